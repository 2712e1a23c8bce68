// Connecting without a pointer: the selected trigger's or node's outgoing
// connections, each with Disconnect, and a form to connect one of its output
// ports to another node (the canvas's drag from a port does the same).
// Keyed by the node, so that its choices start again for another node.
import { useState } from 'react';
import { portsOf } from '../model/editor';
import type { Graph, GraphNode } from '../model/graph';

export function Connections({
  graph,
  node,
  onConnect,
  onDisconnect,
}: {
  graph: Graph;
  node: GraphNode;
  onConnect: (port: string, target: string) => void;
  onDisconnect: (edge: string) => void;
}) {
  const ports = node.kind === 'node' ? portsOf(node) : node.ports.length > 0 ? node.ports : ['main'];
  const targets = graph.nodes.filter((n) => n.kind === 'node' && n.id !== node.id);
  const [port, setPort] = useState(ports[0] ?? 'main');
  const [target, setTarget] = useState(targets[0]?.id ?? '');
  const outgoing = graph.edges.filter((e) => e.source === node.id);
  return (
    <fieldset className="connections">
      <legend>Connections</legend>
      <ul>
        {outgoing.map((edge) => (
          <li key={edge.id}>
            {edge.port} → {edge.target}{' '}
            <button type="button" onClick={() => onDisconnect(edge.id)} aria-label={`Disconnect ${node.id} ${edge.port} from ${edge.target}`}>
              Disconnect
            </button>
          </li>
        ))}
      </ul>
      {targets.length > 0 ? (
        <div className="connect-form">
          <label>
            From port
            <select value={port} onChange={(e) => setPort(e.target.value)}>
              {ports.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </label>
          <label>
            To node
            <select value={target} onChange={(e) => setTarget(e.target.value)}>
              {targets.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.id}
                </option>
              ))}
            </select>
          </label>
          <button type="button" onClick={() => target && onConnect(port, target)} disabled={!target}>
            Connect
          </button>
        </div>
      ) : (
        <p className="meta">Add a node to connect {node.id} to.</p>
      )}
    </fieldset>
  );
}
