import { describe, expect, it } from 'vitest';
import { addNode, badId, configErrors, connect, disconnect, freshId, portsOf, renameNode, nodeFrom, problemsByNode, rangeOf, removeNode, type PaletteEntry } from './editor';
import { graphToWorkflow, type Graph } from './graph';

const set: PaletteEntry = { kind: 'node', plugin: 'wirework/core', version: '0.1.4', node: 'set', title: 'Set', description: '', ports: ['main'] };
const hook: PaletteEntry = { kind: 'plugin-trigger', plugin: 'wirework/core', version: '0.1.4', node: 'webhook', title: 'Webhook', description: '' };

describe('the editor', () => {
  it('makes ranges and fresh ids', () => {
    expect(rangeOf('0.1.4')).toBe('^0.1');
    expect(rangeOf('2.3.0')).toBe('^2');
    expect(freshId('set', ['set', 'set-2'])).toBe('set-3');
    expect(freshId('Send Mail!', [])).toBe('send-mail');
  });

  it('builds a workflow from palette entries and connections', () => {
    let graph: Graph = { nodes: [], edges: [] };
    graph = addNode(graph, nodeFrom(hook, []));
    graph = addNode(graph, nodeFrom(set, graph.nodes.map((n) => n.id)));
    graph = addNode(graph, nodeFrom(set, graph.nodes.map((n) => n.id)));
    graph = connect(graph, 'webhook', 'main', 'set');
    graph = connect(graph, 'set', 'main', 'set-2');
    expect(connect(graph, 'set', 'main', 'set-2')).toBe(graph);
    expect(connect(graph, 'set', 'main', 'webhook')).toBe(graph);
    const workflow = graphToWorkflow(graph, { id: 'built', triggers: [], nodes: [] });
    expect(workflow).toEqual({
      id: 'built',
      triggers: [{ id: 'webhook', type: 'webhook', path: 'webhook', uses: 'wirework/core@^0.1', node: 'webhook' }],
      nodes: [
        { id: 'set', uses: 'wirework/core@^0.1', node: 'set', config: {} },
        { id: 'set-2', uses: 'wirework/core@^0.1', node: 'set', config: {} },
      ],
      connections: [
        { from: 'webhook', to: 'set' },
        { from: 'set', to: 'set-2' },
      ],
    });
    const unlinked = disconnect(graph, graph.edges[1]!.id);
    expect(unlinked.edges.map((e) => `${e.source}->${e.target}`)).toEqual(['webhook->set']);
    expect(unlinked.nodes).toBe(graph.nodes);
    const smaller = removeNode(graph, 'set');
    expect(smaller.nodes.map((n) => n.id)).toEqual(['webhook', 'set-2']);
    expect(smaller.edges).toEqual([]);
  });

  it('finds the nodes problems name', () => {
    const byNode = problemsByNode([
      { location: 'nodes[2](send).config/url', message: 'required' },
      { location: 'triggers[0](form).path', message: 'taken' },
      { location: 'connections[1](send:ok -> x)', message: 'no node x' },
      { location: 'settings.error_workflow', message: 'unknown' },
    ]);
    expect(byNode.get('send')?.map((p) => p.message)).toEqual(['required', 'no node x']);
    expect(byNode.get('form')).toHaveLength(1);
    expect(byNode.get('')).toHaveLength(1);
  });

  it("shows a switch's ports from its rules and fallback", () => {
    const sw: PaletteEntry = { kind: 'node', plugin: 'wirework/core', version: '0.1.4', node: 'switch', title: 'Switch', description: '', ports: [] };
    const node = nodeFrom(sw, []);
    expect(portsOf(node)).toEqual(['main']);
    const rules = [
      { port: 'nl', when: { field: 'country', op: 'eq', value: 'NL' } },
      { port: 'de', when: { field: 'country', op: 'eq', value: 'DE' } },
    ];
    const configured = { ...node, spec: { ...node.spec, config: { rules } } };
    expect(portsOf(configured)).toEqual(['nl', 'de', 'default']);
    const renamed = { ...configured, spec: { ...configured.spec, config: { rules, fallback: 'rest' } }, ports: ['nl'] };
    expect(portsOf(renamed)).toEqual(['nl', 'de', 'rest']);
    expect(portsOf(nodeFrom(set, []))).toEqual(['main']);
    const table = { ...node, ports: [], spec: { id: 'discount', uses: '', node: '', decide: { hit: 'first' as const, inputs: ['tier'], rules: [] } } };
    expect(portsOf(table)).toEqual(['main', 'no_match']);
    const each = { ...node, ports: [], spec: { id: 'each', uses: '', node: '', batches: { size: 10 } } };
    expect(portsOf(each)).toEqual(['batch', 'done']);
    // The engine's own nodes from the palette: no plugin, their own spec.
    const engine = (kind: 'decide' | 'call' | 'batches') => nodeFrom({ kind, title: kind, description: '' }, ['call']);
    expect(engine('call').spec).toEqual({ id: 'call-2', uses: '', node: '', call: { workflow: '', wait: true } });
    expect(portsOf(engine('call'))).toEqual(['main']);
    expect(engine('batches').spec).toEqual({ id: 'batches', uses: '', node: '', batches: { size: 10 } });
    expect(portsOf(engine('batches'))).toEqual(['batch', 'done']);
    expect(portsOf(engine('decide'))).toEqual(['main', 'no_match']);
  });

  it('renames a node, its connections following; refuses a bad or taken id', () => {
    let graph: Graph = { nodes: [], edges: [] };
    graph = addNode(graph, nodeFrom(hook, []));
    graph = addNode(graph, nodeFrom(set, ['webhook']));
    graph = connect(graph, 'webhook', 'main', 'set');
    expect(badId(graph, 'stamp', 'set')).toBeNull();
    expect(badId(graph, 'set', 'set')).toBeNull();
    expect(badId(graph, 'webhook', 'set')).toBe('webhook is taken');
    expect(badId(graph, 'Stamp!', 'set')).toMatch(/lower-case/);
    const renamed = renameNode(graph, 'set', 'stamp');
    expect(renamed.nodes.map((n) => [n.id, n.spec.id])).toEqual([
      ['webhook', 'webhook'],
      ['stamp', 'stamp'],
    ]);
    expect(renamed.edges.map((e) => `${e.source}->${e.target}`)).toEqual(['webhook->stamp']);
  });

  it("puts the server's configuration problems on the fields they name", () => {
    const problems = [
      { location: 'nodes[2](answer).config/status', message: 'does not match the node\'s schema: 42 is less than 100' },
      { location: 'nodes[2](answer).config/body/a~1b', message: 'expression error: unknown root' },
      { location: 'nodes[2](answer).config', message: 'not an object' },
      { location: 'nodes[1](stamp).config/fields', message: 'elsewhere' },
      { location: 'connections[0](form:main -> x)', message: 'no node x' },
    ];
    expect(configErrors(problems, 'answer')).toEqual({
      status: { __errors: ["does not match the node's schema: 42 is less than 100"] },
      body: { 'a/b': { __errors: ['expression error: unknown root'] } },
      __errors: ['not an object'],
    });
    expect(configErrors(problems, 'nowhere')).toEqual({});
  });
});
