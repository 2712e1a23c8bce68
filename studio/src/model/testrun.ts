// What a test run of a draft needs apart from React: the sample input the
// author types, the outputs of the last run by node, pinned outputs (typed,
// or taken from the last run), and the pins that run a draft from one node
// (every node before it stands in with its last output).
import type { Execution } from '../api/types';
import { emitted } from './executions';
import type { Graph } from './graph';

/** Items on each output port of a node: `{ main: [{...}] }`. */
export type PortItems = Record<string, Record<string, unknown>[]>;

/** Pinned outputs by node id, as `POST /test-runs` takes them. */
export type Pins = Record<string, PortItems>;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The trigger items the author typed: one JSON object, or an array of them. */
export function parseSample(text: string): { items: Record<string, unknown>[] } | { error: string } {
  if (text.trim() === '') return { items: [{}] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { error: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  const items = Array.isArray(value) ? value : [value];
  if (!items.every(isObject)) return { error: 'each item must be a JSON object' };
  return { items };
}

/** A pinned output the author typed: `{port: [objects]}`, or a bare array (the port `main`). */
export function parsePorts(text: string): { ports: PortItems } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { error: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  const ports: unknown = Array.isArray(value) ? { main: value } : value;
  if (!isObject(ports)) return { error: 'an output is {"port": [items]} or an array of items' };
  for (const [port, items] of Object.entries(ports)) {
    if (!Array.isArray(items) || !items.every(isObject)) return { error: `port ${port}: items must be an array of JSON objects` };
  }
  return { ports: ports as PortItems };
}

/** What each node emitted in `execution`, port by port (its last step that emitted). */
export function outputsByNode(execution: Execution): Map<string, PortItems> {
  const outputs = new Map<string, PortItems>();
  for (const step of execution.steps) {
    const ports = emitted(step);
    if (ports.length === 0 && !('emitted' in (step.outcome as object))) continue;
    outputs.set(step.node, Object.fromEntries(ports.map(([port, items]) => [port, items as Record<string, unknown>[]])));
  }
  return outputs;
}

/** How many items `ports` holds. */
export function itemCount(ports: PortItems): number {
  return Object.values(ports).reduce((n, items) => n + items.length, 0);
}

/** The nodes (not triggers) that run before `id`: everything with a path to it. */
export function upstreamOf(graph: Graph, id: string): Set<string> {
  const triggers = new Set(graph.nodes.filter((n) => n.kind === 'trigger').map((n) => n.id));
  const before = new Set<string>();
  const queue = [id];
  while (queue.length > 0) {
    const at = queue.pop()!;
    for (const edge of graph.edges) {
      if (edge.target === at && edge.source !== id && !before.has(edge.source)) {
        before.add(edge.source);
        queue.push(edge.source);
      }
    }
  }
  for (const trigger of triggers) before.delete(trigger);
  return before;
}

/**
 * The pins that run a draft from node `id`: the author's own, and every
 * node before it pinned to what it emitted in the last run, so that only
 * `id` and what follows it are called. `missing` lists the nodes before it
 * with neither a pin nor an output (run the whole draft first).
 */
export function pinsToRunFrom(graph: Graph, id: string, last: Map<string, PortItems>, pins: Pins): { pins: Pins; missing: string[] } {
  const result: Pins = { ...pins };
  const missing: string[] = [];
  for (const node of upstreamOf(graph, id)) {
    if (result[node]) continue;
    const output = last.get(node);
    if (output) result[node] = output;
    else missing.push(node);
  }
  delete result[id];
  return { pins: result, missing: missing.sort() };
}

/** `pins` without the nodes the graph no longer has. */
export function livePins(graph: Graph, pins: Pins): Pins {
  const ids = new Set(graph.nodes.filter((n) => n.kind === 'node').map((n) => n.id));
  return Object.fromEntries(Object.entries(pins).filter(([node]) => ids.has(node)));
}
