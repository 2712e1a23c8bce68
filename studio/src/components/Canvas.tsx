// The canvas both the workflow and the execution screens draw: a workflow's
// triggers and nodes laid out left to right by ELK, each output port a
// handle named by its port, connections as arrows, and (for an execution)
// each node coloured by how it ran. Everything shown is rendered as text.
import '@xyflow/react/dist/style.css';
import { Background, Controls, Handle, Position, ReactFlow, type Edge, type Node, type NodeProps } from '@xyflow/react';
import type { WorkflowDefinition } from '../api/types';
import type { NodeState } from '../model/executions';
import { describe, workflowToGraph, type GraphNode } from '../model/graph';
import { NODE_HEIGHT, NODE_WIDTH, positionsFor } from '../model/layout';

type BoxData = { node: GraphNode; state?: NodeState; selected?: boolean };
type BoxNode = Node<BoxData, 'box'>;

function Box({ data }: NodeProps<BoxNode>) {
  const { node, state } = data;
  const ports = node.ports.length > 0 ? node.ports : node.kind === 'node' ? ['main'] : [];
  return (
    <div
      className={`box ${node.kind}${state ? ` ran-${state}` : ''}`}
      style={{ width: NODE_WIDTH, minHeight: NODE_HEIGHT }}
      data-testid={`node-${node.id}`}
      data-state={state}
    >
      {node.kind === 'node' && <Handle type="target" position={Position.Left} />}
      <div className="box-id">{node.id}</div>
      <div className="box-what">{describe(node)}</div>
      {state && <div className="box-state">{state}</div>}
      <OutputPorts node={node.id} ports={ports} />
    </div>
  );
}

/** A box's output ports: a handle each, named by its port, spread down its right side. */
export function OutputPorts({ node, ports }: { node: string; ports: string[] }) {
  return ports.map((port, i) => (
    <Handle
      key={port}
      id={port}
      type="source"
      position={Position.Right}
      style={{ top: `${((i + 1) * 100) / (ports.length + 1)}%` }}
      title={port}
      data-testid={`port-${node}-${port}`}
    />
  ));
}

const nodeTypes = { box: Box };

export interface CanvasModel {
  nodes: BoxNode[];
  edges: Edge[];
}

/** The canvas of `definition`, each node's state from `states` when given. */
export async function buildCanvas(definition: WorkflowDefinition, states?: Map<string, NodeState>): Promise<CanvasModel> {
  const graph = workflowToGraph(definition);
  const positions = await positionsFor(graph, definition.layout?.positions);
  const nodes: BoxNode[] = graph.nodes.map((node) => ({
    id: node.id,
    type: 'box',
    position: positions[node.id] ?? { x: 0, y: 0 },
    data: { node, state: states?.get(node.id) },
    ariaLabel: `${node.kind} ${node.id}: ${describe(node)}${states?.get(node.id) ? `, ${states.get(node.id)}` : ''}`,
  }));
  const edges: Edge[] = graph.edges.map((edge) => ({
    id: edge.id,
    source: edge.source,
    sourceHandle: edge.port,
    target: edge.target,
    label: edge.port === 'main' ? undefined : edge.port,
    animated: edge.maxIterations !== undefined,
  }));
  return { nodes, edges };
}

export function Canvas({
  model,
  label,
  onSelect,
}: {
  model: CanvasModel;
  label: string;
  onSelect?: (id: string) => void;
}) {
  return (
    <div className="canvas" aria-label={label}>
      <ReactFlow
        nodes={model.nodes}
        edges={model.edges}
        nodeTypes={nodeTypes}
        fitView
        fitViewOptions={{ maxZoom: 1 }}
        nodesConnectable={false}
        onNodeClick={(_, node) => onSelect?.(node.id)}
        proOptions={{ hideAttribution: true }}
      >
        <Background />
        <Controls />
      </ReactFlow>
    </div>
  );
}
