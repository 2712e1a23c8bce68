import { describe, expect, it } from 'vitest';
import { workflowToGraph } from './graph';
import { layout, NODE_HEIGHT, NODE_WIDTH } from './layout';

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
});
