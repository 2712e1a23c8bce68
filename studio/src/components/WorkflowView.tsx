// A workflow on the canvas: its triggers and nodes laid out left to right,
// each output port a handle named by its port, connections as arrows.
// Everything shown comes from the workflow and is rendered as text.
import '@xyflow/react/dist/style.css';
import { Background, Controls, Handle, Position, ReactFlow, type Edge, type Node, type NodeProps } from '@xyflow/react';
import { api } from '../api/client';
import type { Workflow } from '../api/types';
import { describe, workflowToGraph, type GraphNode } from '../model/graph';
import { layout, NODE_HEIGHT, NODE_WIDTH } from '../model/layout';
import { useLoad } from './useLoad';

type BoxNode = Node<{ node: GraphNode }, 'box'>;

function Box({ data }: NodeProps<BoxNode>) {
  const { node } = data;
  const ports = node.ports.length > 0 ? node.ports : node.kind === 'node' ? ['main'] : [];
  return (
    <div className={`box ${node.kind}`} style={{ width: NODE_WIDTH, minHeight: NODE_HEIGHT }} data-testid={`node-${node.id}`}>
      {node.kind === 'node' && <Handle type="target" position={Position.Left} />}
      <div className="box-id">{node.id}</div>
      <div className="box-what">{describe(node)}</div>
      {ports.map((port, i) => (
        <Handle
          key={port}
          id={port}
          type="source"
          position={Position.Right}
          style={{ top: `${((i + 1) * 100) / (ports.length + 1)}%` }}
          title={port}
        />
      ))}
    </div>
  );
}

const nodeTypes = { box: Box };

async function loadCanvas(id: string) {
  const workflow: Workflow = await api.workflow(id);
  const graph = workflowToGraph(workflow.definition);
  const positions = await layout(graph);
  const nodes: BoxNode[] = graph.nodes.map((node) => ({
    id: node.id,
    type: 'box',
    position: positions[node.id] ?? { x: 0, y: 0 },
    data: { node },
    ariaLabel: `${node.kind} ${node.id}: ${describe(node)}`,
  }));
  const edges: Edge[] = graph.edges.map((edge) => ({
    id: edge.id,
    source: edge.source,
    sourceHandle: edge.port,
    target: edge.target,
    label: edge.port === 'main' ? undefined : edge.port,
    animated: edge.maxIterations !== undefined,
  }));
  return { workflow, nodes, edges };
}

export default function WorkflowView({ id }: { id: string }) {
  const canvas = useLoad(() => loadCanvas(id), id);
  if (canvas.state === 'loading') return <p>Loading…</p>;
  if (canvas.state === 'failed') return <p role="alert">Could not load workflow {id}: {canvas.error}</p>;
  const { workflow, nodes, edges } = canvas.value;
  return (
    <section className="workflow" aria-labelledby="workflow-title">
      <h1 id="workflow-title">
        {workflow.definition.name || workflow.id}{' '}
        <span className={workflow.active ? 'badge on' : 'badge off'}>{workflow.active ? 'active' : 'inactive'}</span>{' '}
        <span className="version">v{workflow.current}</span>
      </h1>
      <div className="canvas" aria-label={`Canvas of ${workflow.id}`}>
        <ReactFlow nodes={nodes} edges={edges} nodeTypes={nodeTypes} fitView nodesConnectable={false} proOptions={{ hideAttribution: true }}>
          <Background />
          <Controls />
        </ReactFlow>
      </div>
    </section>
  );
}
