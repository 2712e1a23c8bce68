import { emptyTable } from './decide';
// What the editor does to a draft workflow, apart from React: add a node
// from the palette, connect ports, and find the nodes the server's
// validation problems name.
import type { NodeSpec, Problem, Trigger } from '../api/types';
import type { Graph, GraphNode } from './graph';

/** A palette entry: a plugin's node type, or one of the engine's own triggers. */
export type PaletteEntry =
  | { kind: 'node'; plugin: string; version: string; node: string; title: string; description: string; ports: string[] }
  | { kind: 'plugin-trigger'; plugin: string; version: string; node: string; title: string; description: string }
  | { kind: 'trigger'; type: 'manual' | 'schedule' | 'event'; title: string; description: string }
  | { kind: 'decide' | 'call' | 'batches'; title: string; description: string };

/** `^major.minor` of a version: the range a new node `uses`. */
export function rangeOf(version: string): string {
  const [major = '0', minor = '0'] = version.split('.');
  return major === '0' ? `^0.${minor}` : `^${major}`;
}

/** A fresh id from `name`: itself, or with the first free number after it. */
export function freshId(name: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  const base = name.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 56) || 'node';
  if (!used.has(base)) return base;
  for (let n = 2; ; n++) if (!used.has(`${base}-${n}`)) return `${base}-${n}`;
}

/** The graph node a palette entry makes, with a fresh id. */
export function nodeFrom(entry: PaletteEntry, taken: Iterable<string>): GraphNode {
  switch (entry.kind) {
    case 'node': {
      const id = freshId(entry.node, taken);
      const spec: NodeSpec = { id, uses: `${entry.plugin}@${rangeOf(entry.version)}`, node: entry.node, config: {} };
      // A node whose configuration names its ports (a switch) describes none.
      return { id, kind: 'node', spec, ports: [...entry.ports] };
    }
    case 'plugin-trigger': {
      const id = freshId(entry.node === 'webhook' ? 'webhook' : entry.node, taken);
      const spec: Trigger = { id, type: 'webhook', path: id, uses: `${entry.plugin}@${rangeOf(entry.version)}`, node: entry.node };
      return { id, kind: 'trigger', spec, ports: ['main'] };
    }
    case 'decide': {
      const id = freshId('decide', taken);
      const spec: NodeSpec = { id, uses: '', node: '', decide: emptyTable() };
      return { id, kind: 'node', spec, ports: [] };
    }
    case 'call': {
      const id = freshId('call', taken);
      const spec: NodeSpec = { id, uses: '', node: '', call: { workflow: '', wait: true } };
      return { id, kind: 'node', spec, ports: ['main'] };
    }
    case 'batches': {
      const id = freshId('batches', taken);
      const spec: NodeSpec = { id, uses: '', node: '', batches: { size: 10 } };
      return { id, kind: 'node', spec, ports: [] };
    }
    case 'trigger': {
      const id = freshId(entry.type, taken);
      const spec: Trigger = { id, type: entry.type };
      if (entry.type === 'schedule') spec.cron = '0 9 * * *';
      if (entry.type === 'event') spec.event = 'contact.created';
      return { id, kind: 'trigger', spec, ports: ['main'] };
    }
  }
}

/**
 * The output ports a box shows: those its connections use and those its
 * configuration names (a `switch`'s rules' ports and its fallback, default
 * `default`), else `main`.
 */
export function portsOf(node: GraphNode): string[] {
  const ports = [...node.ports];
  // A decision table (the engine's own node) sends matches on main, the rest on no_match.
  if (node.kind === 'node' && (node.spec as NodeSpec).decide) ports.push('main', 'no_match');
  if (node.kind === 'node' && (node.spec as NodeSpec).batches) ports.push('batch', 'done');
  const config = node.kind === 'node' ? ((node.spec as NodeSpec).config as { rules?: unknown; fallback?: unknown } | undefined) : undefined;
  if (config && Array.isArray(config.rules)) {
    for (const rule of config.rules as { port?: unknown }[]) {
      if (typeof rule?.port === 'string' && rule.port !== '') ports.push(rule.port);
    }
    ports.push(typeof config.fallback === 'string' && config.fallback !== '' ? config.fallback : 'default');
  }
  const unique = [...new Set(ports)];
  return unique.length > 0 ? unique : ['main'];
}

/** `graph` with `node` added. */
export function addNode(graph: Graph, node: GraphNode): Graph {
  return { ...graph, nodes: [...graph.nodes, node] };
}

/** `graph` with a connection from `source`'s `port` to `target`, unless it has it or it would end at a trigger. */
export function connect(graph: Graph, source: string, port: string, target: string): Graph {
  const to = graph.nodes.find((n) => n.id === target);
  if (!to || to.kind === 'trigger' || source === target) return graph;
  if (graph.edges.some((e) => e.source === source && e.port === port && e.target === target)) return graph;
  const id = `e${Date.now().toString(36)}${graph.edges.length}`;
  return { ...graph, edges: [...graph.edges, { id, source, port, target }] };
}

/** Why `id` cannot be the new id of a trigger or node of `graph`, or null when it can. */
export function badId(graph: Graph, id: string, current: string): string | null {
  if (id === current) return null;
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(id)) return 'lower-case letters, digits, - and _ (at most 64, starting with a letter or digit)';
  if (graph.nodes.some((n) => n.id === id)) return `${id} is taken`;
  return null;
}

/** `graph` with trigger or node `from` renamed `to`, its connections following it. */
export function renameNode(graph: Graph, from: string, to: string): Graph {
  return {
    nodes: graph.nodes.map((n) => (n.id === from ? { ...n, id: to, spec: { ...n.spec, id: to } } : n)),
    edges: graph.edges.map((e) => ({ ...e, source: e.source === from ? to : e.source, target: e.target === from ? to : e.target })),
  };
}

/** `graph` without connection `edge`. */
export function disconnect(graph: Graph, edge: string): Graph {
  return { ...graph, edges: graph.edges.filter((e) => e.id !== edge) };
}

/** `graph` without node `id` and its connections. */
export function removeNode(graph: Graph, id: string): Graph {
  return {
    nodes: graph.nodes.filter((n) => n.id !== id),
    edges: graph.edges.filter((e) => e.source !== id && e.target !== id),
  };
}

/**
 * The problems the server listed, by the trigger or node they name
 * (`nodes[2](send).config/url` is about `send`); the rest under `''`.
 */
export function problemsByNode(problems: Problem[]): Map<string, Problem[]> {
  const byNode = new Map<string, Problem[]>();
  for (const problem of problems) {
    const named = /^(?:nodes|triggers)\[\d+\]\(([^)]*)\)/.exec(problem.location);
    const connection = /^connections\[\d+\]\(([^:\s)]+)/.exec(problem.location);
    const key = named?.[1] ?? connection?.[1] ?? '';
    byNode.set(key, [...(byNode.get(key) ?? []), problem]);
  }
  return byNode;
}

/** Errors in the shape a generated form shows on its fields: `{field: {__errors: [...]}}`, `__errors` at the root for the whole. */
export interface FieldErrors {
  __errors?: string[];
  [field: string]: FieldErrors | string[] | undefined;
}

/**
 * The server's problems about node `id`'s configuration, on the fields they
 * name: `nodes[2](respond).config/status` is about the field `status`
 * (a JSON pointer after `config`); one about the configuration as a whole
 * goes to its root.
 */
export function configErrors(problems: Problem[], id: string): FieldErrors {
  const errors: FieldErrors = {};
  for (const problem of problems) {
    const match = /^nodes\[\d+\]\(([^)]*)\)\.config(\/.*)?$/.exec(problem.location);
    if (!match || match[1] !== id) continue;
    const path = (match[2] ?? '')
      .split('/')
      .slice(1)
      .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
    let at = errors;
    for (const part of path) at = (at[part] ??= {}) as FieldErrors;
    at.__errors = [...(at.__errors ?? []), problem.message];
  }
  return errors;
}
