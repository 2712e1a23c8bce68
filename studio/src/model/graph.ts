// A workflow as a graph for the canvas, and back. Triggers and nodes share
// one id space (the engine refuses duplicates), so a graph node's id is the
// trigger's or node's id. A connection's `from` is `id` (the port `main`) or
// `id:port`; its `to` is a node id.
import type { Connection, NodeSpec, Trigger, WorkflowDefinition } from '../api/types';

/** One box on the canvas. */
export interface GraphNode {
  id: string;
  kind: 'trigger' | 'node';
  /** The trigger or node as the workflow has it. */
  spec: Trigger | NodeSpec;
  /** Output ports that connections leave from, in first-use order (`main` first when used). */
  ports: string[];
}

/** One arrow: from a node's port to another node. */
export interface GraphEdge {
  id: string;
  source: string;
  port: string;
  target: string;
  /** Set on connections that close a loop. */
  maxIterations?: number;
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** `id` or `id:port` split into the node and its port (default `main`). */
export function splitFrom(from: string): { node: string; port: string } {
  const at = from.indexOf(':');
  return at < 0 ? { node: from, port: 'main' } : { node: from.slice(0, at), port: from.slice(at + 1) };
}

/** The `from` of a connection leaving `node` on `port`. */
export function joinFrom(node: string, port: string): string {
  return port === 'main' ? node : `${node}:${port}`;
}

/** The graph of `workflow`: every trigger and node, every connection. */
export function workflowToGraph(workflow: WorkflowDefinition): Graph {
  const nodes: GraphNode[] = [
    ...workflow.triggers.map((spec): GraphNode => ({ id: spec.id, kind: 'trigger', spec, ports: [] })),
    ...workflow.nodes.map((spec): GraphNode => ({ id: spec.id, kind: 'node', spec, ports: [] })),
  ];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const edges = (workflow.connections ?? []).map((connection, index): GraphEdge => {
    const { node, port } = splitFrom(connection.from);
    const source = byId.get(node);
    if (source && !source.ports.includes(port)) source.ports.push(port);
    const edge: GraphEdge = { id: `e${index}`, source: node, port, target: connection.to };
    if (connection.max_iterations !== undefined) edge.maxIterations = connection.max_iterations;
    return edge;
  });
  return { nodes, edges };
}

/**
 * The workflow a graph stands for: `base`'s id, name and settings, the
 * graph's triggers and nodes in its order, and its edges as connections.
 * `workflowToGraph` then this give back the same workflow.
 */
export function graphToWorkflow(graph: Graph, base: WorkflowDefinition): WorkflowDefinition {
  const triggers = graph.nodes.filter((n) => n.kind === 'trigger').map((n) => n.spec as Trigger);
  const nodes = graph.nodes.filter((n) => n.kind === 'node').map((n) => n.spec as NodeSpec);
  const connections = graph.edges.map((edge): Connection => {
    const connection: Connection = { from: joinFrom(edge.source, edge.port), to: edge.target };
    if (edge.maxIterations !== undefined) connection.max_iterations = edge.maxIterations;
    return connection;
  });
  const workflow: WorkflowDefinition = { ...base, triggers, nodes };
  if (connections.length > 0 || base.connections !== undefined) workflow.connections = connections;
  return workflow;
}

/** What a box says about itself: the plugin node or the trigger type. */
export function describe(node: GraphNode): string {
  if (node.kind === 'trigger') {
    const trigger = node.spec as Trigger;
    switch (trigger.type) {
      case 'webhook':
        return `webhook /${trigger.path ?? ''}${trigger.mode === 'sync' ? ' (sync)' : ''}`;
      case 'schedule':
        return `schedule ${trigger.cron ?? ''}${trigger.timezone ? ` ${trigger.timezone}` : ''}`;
      case 'event':
        return `event ${trigger.event ?? ''}`;
      default:
        return trigger.type;
    }
  }
  const spec = node.spec as NodeSpec;
  if (spec.batches) return `batches of ${spec.batches.size}`;
  if (spec.decide) return `decision table · ${spec.decide.rules.length} rules`;
  if (spec.call) return `calls ${spec.call.workflow}${spec.call.version ? ` v${spec.call.version}` : ''}${spec.call.wait === false ? ' (no wait)' : ''}`;
  return `${spec.uses.split('@')[0]} · ${spec.node}`;
}
