import { describe, expect, it } from 'vitest';
import type { Execution } from '../api/types';
import type { Graph } from './graph';
import { itemCount, livePins, outputsByNode, parsePorts, parseSample, pinsToRunFrom, upstreamOf } from './testrun';

// go -> fetch -> check -(true)-> mark ; check -(false)-> skip
const graph: Graph = {
  nodes: [
    { id: 'go', kind: 'trigger', spec: { id: 'go', type: 'manual' }, ports: ['main'] },
    ...['fetch', 'check', 'mark', 'skip'].map((id) => ({
      id,
      kind: 'node' as const,
      spec: { id, uses: 'wirework/core@^0.1', node: 'set' },
      ports: id === 'check' ? ['true', 'false'] : ['main'],
    })),
  ],
  edges: [
    { id: 'e0', source: 'go', port: 'main', target: 'fetch' },
    { id: 'e1', source: 'fetch', port: 'main', target: 'check' },
    { id: 'e2', source: 'check', port: 'true', target: 'mark' },
    { id: 'e3', source: 'check', port: 'false', target: 'skip' },
  ],
};

describe('test runs', () => {
  it('reads the sample input: an object, an array of objects, or nothing', () => {
    expect(parseSample('')).toEqual({ items: [{}] });
    expect(parseSample('{"email": "a@b.c"}')).toEqual({ items: [{ email: 'a@b.c' }] });
    expect(parseSample('[{"n": 1}, {"n": 2}]')).toEqual({ items: [{ n: 1 }, { n: 2 }] });
    expect(parseSample('[1]')).toEqual({ error: 'each item must be a JSON object' });
    expect('error' in parseSample('{oops')).toBe(true);
  });

  it('reads a typed output: ports of items, or a bare array on main', () => {
    expect(parsePorts('[{"a": 1}]')).toEqual({ ports: { main: [{ a: 1 }] } });
    expect(parsePorts('{"true": [], "false": [{"b": 2}]}')).toEqual({ ports: { true: [], false: [{ b: 2 }] } });
    expect(parsePorts('{"main": [3]}')).toEqual({ error: 'port main: items must be an array of JSON objects' });
    expect(parsePorts('"text"')).toEqual({ error: 'an output is {"port": [items]} or an array of items' });
  });

  it("takes each node's last emitted output from an execution", () => {
    const step = (node: string, outcome: unknown) => ({ node, outcome }) as Execution['steps'][number];
    const execution = {
      steps: [
        step('fetch', { failed: { failure: { message: 'down' }, then: 'retry' } }),
        step('fetch', { emitted: { ports: [['main', [{ n: 1 }]]] } }),
        step('check', { emitted: { ports: [['true', [{ n: 1 }]], ['false', []]] } }),
        step('wait', { waiting: { until_ms: 1, event: null } }),
      ],
    } as unknown as Execution;
    const outputs = outputsByNode(execution);
    expect([...outputs.keys()]).toEqual(['fetch', 'check']);
    expect(outputs.get('check')).toEqual({ true: [{ n: 1 }], false: [] });
    expect(itemCount(outputs.get('check')!)).toBe(1);
  });

  it('runs from a node with every node before it pinned to its last output', () => {
    expect([...upstreamOf(graph, 'mark')].sort()).toEqual(['check', 'fetch']);
    expect([...upstreamOf(graph, 'fetch')]).toEqual([]);
    const last = new Map([['fetch', { main: [{ n: 1 }] }]]);
    const own = { check: { true: [{ typed: true }], false: [] } };
    expect(pinsToRunFrom(graph, 'mark', last, own)).toEqual({
      pins: { fetch: { main: [{ n: 1 }] }, check: { true: [{ typed: true }], false: [] } },
      missing: [],
    });
    // The node run from is never pinned itself; one before it without output is missing.
    expect(pinsToRunFrom(graph, 'check', new Map(), { check: { main: [] } })).toEqual({ pins: {}, missing: ['fetch'] });
  });

  it('drops the pins of nodes the draft no longer has', () => {
    expect(livePins(graph, { fetch: { main: [] }, gone: { main: [] } })).toEqual({ fetch: { main: [] } });
  });
});
