// Positions for a graph that has none (a workflow deployed as YAML): ELK's
// layered layout, left to right, ports in the order the node lists them.
import ELK from 'elkjs/lib/elk.bundled.js';
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
