// Positions for a graph: those its workflow keeps (`layout.positions`, saved
// by the editor), else ELK's layered layout, left to right (a workflow
// deployed as YAML has none).
import ELK from 'elkjs/lib/elk.bundled.js';
import type { WorkflowDefinition } from '../api/types';
import type { Graph } from './graph';

export const NODE_WIDTH = 220;
export const NODE_HEIGHT = 64;

export interface Positions {
  [id: string]: { x: number; y: number };
}

const elk = new ELK();

/** Top-left corners for every node of `graph`. */
export async function layout(graph: Graph): Promise<Positions> {
  const known = new Set(graph.nodes.map((n) => n.id));
  const laid = await elk.layout({
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.spacing.nodeNode': '40',
      'elk.layered.spacing.nodeNodeBetweenLayers': '80',
      'elk.layered.cycleBreaking.strategy': 'DEPTH_FIRST',
    },
    children: graph.nodes.map((n) => ({ id: n.id, width: NODE_WIDTH, height: NODE_HEIGHT })),
    // An edge to a node that does not exist (a broken workflow) is left out of the layout.
    edges: graph.edges
      .filter((e) => known.has(e.source) && known.has(e.target))
      .map((e) => ({ id: e.id, sources: [e.source], targets: [e.target] })),
  });
  const positions: Positions = {};
  for (const child of laid.children ?? []) positions[child.id] = { x: child.x ?? 0, y: child.y ?? 0 };
  return positions;
}

/**
 * The positions to draw `graph` at: the ones `kept` (a workflow's
 * `layout.positions`) for the boxes they place, when they place every box;
 * else ELK's for all, so that a workflow edited as YAML is not drawn half
 * laid out.
 */
export async function positionsFor(graph: Graph, kept: Positions | undefined): Promise<Positions> {
  if (kept && graph.nodes.length > 0 && graph.nodes.every((n) => kept[n.id] !== undefined)) {
    return Object.fromEntries(graph.nodes.map((n) => [n.id, kept[n.id]!]));
  }
  return layout(graph);
}

/** `workflow` keeping where each of its boxes is drawn (rounded; only the boxes it has). */
export function withPositions(workflow: WorkflowDefinition, positions: Positions): WorkflowDefinition {
  const ids = [...workflow.triggers.map((t) => t.id), ...workflow.nodes.map((n) => n.id)];
  const kept = Object.fromEntries(
    ids.filter((id) => positions[id] !== undefined).map((id) => [id, { x: Math.round(positions[id]!.x), y: Math.round(positions[id]!.y) }]),
  );
  const rest = { ...workflow };
  delete rest.layout;
  return Object.keys(kept).length > 0 ? { ...rest, layout: { positions: kept } } : rest;
}
