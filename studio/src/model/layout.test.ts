import { describe, expect, it } from 'vitest';
import { workflowToGraph } from './graph';
import { layout, NODE_HEIGHT, NODE_WIDTH, positionsFor, withPositions } from './layout';

function chain(length: number) {
  const nodes = Array.from({ length }, (_, i) => ({ id: `n${i}`, uses: 'wirework/core@^0.1', node: 'noop' }));
  const connections = [{ from: 't', to: 'n0' }, ...nodes.slice(1).map((n, i) => ({ from: `n${i}`, to: n.id }))];
  return workflowToGraph({ id: 'chain', triggers: [{ id: 't', type: 'manual' }], nodes, connections });
}

function overlap(a: { x: number; y: number }, b: { x: number; y: number }) {
  return Math.abs(a.x - b.x) < NODE_WIDTH && Math.abs(a.y - b.y) < NODE_HEIGHT;
}

describe('layout', () => {
  it('lays a chain out left to right', async () => {
    const positions = await layout(chain(5));
    const xs = ['t', 'n0', 'n1', 'n2', 'n3', 'n4'].map((id) => positions[id]?.x ?? NaN);
    expect(xs.every((x, i) => i === 0 || x > (xs[i - 1] ?? 0))).toBe(true);
  });

  it('places 200 nodes without overlaps', async () => {
    const graph = chain(200);
    const positions = await layout(graph);
    const all = graph.nodes.map((n) => positions[n.id]);
    expect(all.every((p) => p !== undefined)).toBe(true);
    for (let i = 1; i < all.length; i++) expect(overlap(all[i - 1]!, all[i]!)).toBe(false);
  });

  it('leaves out an edge to a node that is not there', async () => {
    const graph = workflowToGraph({
      id: 'broken',
      triggers: [{ id: 't', type: 'manual' }],
      nodes: [],
      connections: [{ from: 't', to: 'ghost' }],
    });
    await expect(layout(graph)).resolves.toHaveProperty('t');
  });

  it('draws a workflow where it was saved, unless a box has no place', async () => {
    const graph = chain(2);
    const kept = { t: { x: 5, y: 6 }, n0: { x: 300, y: 7 }, n1: { x: 600, y: 8 } };
    expect(await positionsFor(graph, kept)).toEqual(kept);
    // n1 unplaced (added in YAML): all laid out again, left to right.
    const laid = await positionsFor(graph, { t: { x: 900, y: 0 }, n0: { x: 0, y: 0 } });
    expect(laid.t!.x).toBeLessThan(laid.n0!.x);
  });

  it('keeps positions in the workflow, rounded, only for its boxes', () => {
    const workflow = { id: 'w', triggers: [{ id: 't', type: 'manual' as const }], nodes: [{ id: 'n', uses: 'wirework/core@^0.1', node: 'noop' }] };
    expect(withPositions(workflow, { t: { x: 1.4, y: 2.6 }, n: { x: 10, y: 20 }, gone: { x: 0, y: 0 } })).toEqual({
      ...workflow,
      layout: { positions: { t: { x: 1, y: 3 }, n: { x: 10, y: 20 } } },
    });
    expect(withPositions({ ...workflow, layout: { positions: { t: { x: 0, y: 0 } } } }, {})).toEqual(workflow);
  });
});
