// The visual editor: a palette of the installed plugins' node types and the
// engine's triggers (searchable; drag onto the canvas, or Add with the
// keyboard), the canvas (connect an output port to a node), an inspector for
// the selected trigger or node (its configuration as a form generated from
// the node's JSON Schema, retry, timeout, on_error), and Save, which deploys
// the draft as a new version. The server validates; its problems show on the
// node they name.
import '@xyflow/react/dist/style.css';
import Form from '@rjsf/core';
import type { RJSFSchema, ValidatorType } from '@rjsf/utils';
import {
  Background,
  Controls,
  Handle,
  Position,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
  type Connection as FlowConnection,
  type Node,
  type NodeProps,
} from '@xyflow/react';
import { useEffect, useMemo, useReducer, useState, type DragEvent } from 'react';
import { api, ApiError } from '../api/client';
import type { Credential, NodeSpec, Plugin, Problem, Trigger, WorkflowDefinition } from '../api/types';
import { addNode, connect, nodeFrom, problemsByNode, removeNode, type PaletteEntry } from '../model/editor';
import { describe, graphToWorkflow, workflowToGraph, type Graph, type GraphNode } from '../model/graph';
import { layout, NODE_HEIGHT, NODE_WIDTH, type Positions } from '../model/layout';
import { href } from '../route';

/**
 * Forms are not validated in the browser: the strict Content-Security-Policy
 * forbids the code generation a JSON Schema validator does, and the server
 * checks every configuration against its schema at deploy anyway, with the
 * problems shown on the node.
 */
const serverValidates: ValidatorType = {
  validateFormData: () => ({ errors: [], errorSchema: {} }),
  isValid: () => true,
  rawValidation: () => ({ errors: [] }),
};

const DRAG_TYPE = 'application/x-wirework-palette';

interface Draft {
  base: WorkflowDefinition;
  graph: Graph;
  positions: Positions;
  selected: string | null;
  problems: Problem[];
}

type Action =
  | { type: 'load'; draft: Draft }
  | { type: 'add'; node: GraphNode; at: { x: number; y: number } }
  | { type: 'connect'; source: string; port: string; target: string }
  | { type: 'move'; id: string; at: { x: number; y: number } }
  | { type: 'select'; id: string | null }
  | { type: 'remove'; id: string }
  | { type: 'spec'; id: string; spec: Trigger | NodeSpec }
  | { type: 'base'; base: WorkflowDefinition }
  | { type: 'problems'; problems: Problem[] };

function reduce(draft: Draft | null, action: Action): Draft | null {
  if (action.type === 'load') return action.draft;
  if (!draft) return draft;
  switch (action.type) {
    case 'add':
      return {
        ...draft,
        graph: addNode(draft.graph, action.node),
        positions: { ...draft.positions, [action.node.id]: action.at },
        selected: action.node.id,
      };
    case 'connect':
      return { ...draft, graph: connect(draft.graph, action.source, action.port, action.target) };
    case 'move':
      return { ...draft, positions: { ...draft.positions, [action.id]: action.at } };
    case 'select':
      return { ...draft, selected: action.id };
    case 'remove':
      return { ...draft, graph: removeNode(draft.graph, action.id), selected: null };
    case 'spec':
      return {
        ...draft,
        graph: {
          ...draft.graph,
          nodes: draft.graph.nodes.map((n) => (n.id === action.id ? { ...n, spec: action.spec } : n)),
        },
      };
    case 'base':
      return { ...draft, base: action.base };
    case 'problems':
      return { ...draft, problems: action.problems };
  }
}

/** The palette: every installed plugin's node types, and the engine's triggers. */
function paletteOf(plugins: Plugin[]): PaletteEntry[] {
  const entries: PaletteEntry[] = [
    { kind: 'trigger', type: 'manual', title: 'Manual', description: 'Started by hand, from the API or the CLI' },
    { kind: 'trigger', type: 'schedule', title: 'Schedule', description: 'A cron schedule in a time zone' },
    { kind: 'trigger', type: 'event', title: 'Event', description: 'An event, from the API, a node or a plugin trigger' },
  ];
  for (const plugin of plugins) {
    for (const node of plugin.nodes) {
      const common = {
        plugin: plugin.name,
        version: plugin.version,
        node: node.name,
        title: node.title,
        description: node.description ?? '',
      };
      entries.push(
        node.kind === 'trigger' ? { kind: 'plugin-trigger', ...common } : { kind: 'node', ...common, ports: node.ports ?? [] },
      );
    }
  }
  return entries;
}

function entryLabel(entry: PaletteEntry): string {
  return entry.kind === 'trigger' ? `${entry.title} trigger` : `${entry.title} (${entry.plugin}@${entry.version})`;
}

function Palette({ entries, onAdd }: { entries: PaletteEntry[]; onAdd: (entry: PaletteEntry) => void }) {
  const [search, setSearch] = useState('');
  const shown = entries.filter((e) =>
    `${entryLabel(e)} ${e.description} ${'node' in e ? e.node : ''}`.toLowerCase().includes(search.toLowerCase()),
  );
  return (
    <aside className="palette" aria-label="Palette">
      <label htmlFor="palette-search">Search node types</label>
      <input id="palette-search" type="search" value={search} onChange={(e) => setSearch(e.target.value)} />
      <ul>
        {shown.map((entry) => (
          <li
            key={entryLabel(entry) + ('node' in entry ? entry.node : '')}
            draggable
            data-testid={`palette-${'node' in entry ? `${entry.plugin}/${entry.node}` : entry.type}`}
            onDragStart={(e) => {
              e.dataTransfer.setData(DRAG_TYPE, JSON.stringify(entry));
              e.dataTransfer.effectAllowed = 'move';
            }}
          >
            <div className="entry-title">{entryLabel(entry)}</div>
            <div className="entry-kind">{entry.kind === 'node' ? 'action' : 'trigger'}</div>
            <div className="entry-description">{entry.description}</div>
            <button type="button" onClick={() => onAdd(entry)} aria-label={`Add ${entryLabel(entry)}`}>
              Add
            </button>
          </li>
        ))}
      </ul>
    </aside>
  );
}

type BoxData = { node: GraphNode; problems: Problem[] };
type BoxNode = Node<BoxData, 'box'>;

function EditableBox({ data, selected }: NodeProps<BoxNode>) {
  const { node, problems } = data;
  const ports = node.ports.length > 0 ? node.ports : ['main'];
  return (
    <div
      className={`box ${node.kind}${problems.length > 0 ? ' has-problems' : ''}${selected ? ' selected' : ''}`}
      style={{ width: NODE_WIDTH, minHeight: NODE_HEIGHT }}
      data-testid={`node-${node.id}`}
    >
      {node.kind === 'node' && <Handle type="target" position={Position.Left} id="in" data-testid={`port-${node.id}-in`} />}
      <div className="box-id">{node.id}</div>
      <div className="box-what">{describe(node)}</div>
      {problems.map((p, i) => (
        <div key={i} className="box-problem" role="status">
          {p.location.replace(/^[a-z]+\[\d+\]\([^)]*\)\.?/, '') || 'here'}: {p.message}
        </div>
      ))}
      {ports.map((port, i) => (
        <Handle
          key={port}
          id={port}
          type="source"
          position={Position.Right}
          style={{ top: `${((i + 1) * 100) / (ports.length + 1)}%` }}
          title={port}
          data-testid={`port-${node.id}-${port}`}
        />
      ))}
    </div>
  );
}

const nodeTypes = { box: EditableBox };

/** The next firings of a schedule, as the server computes them. */
function CronPreview({ cron, timezone }: { cron: string; timezone?: string }) {
  const [next, setNext] = useState<string[] | string>([]);
  useEffect(() => {
    let live = true;
    const timer = setTimeout(() => {
      api.schedulePreview(cron, timezone).then(
        (preview) => live && setNext(preview.next.map((n) => n.local)),
        (e: unknown) => live && setNext(e instanceof Error ? e.message : String(e)),
      );
    }, 300);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [cron, timezone]);
  return typeof next === 'string' ? (
    <p className="error" role="status">
      {next}
    </p>
  ) : (
    <div aria-label="Next runs">
      <p className="meta">Next runs:</p>
      <ul className="next-runs">
        {next.map((at) => (
          <li key={at}>{at}</li>
        ))}
      </ul>
    </div>
  );
}

/** Credential bindings: for each credential type the node's plugin declares, a stored credential of it. */
function CredentialBindings({
  plugin,
  stored,
  bound,
  onChange,
}: {
  plugin: Plugin | undefined;
  stored: Credential[];
  bound: Record<string, string>;
  onChange: (bound: Record<string, string>) => void;
}) {
  const types = plugin?.credential_types ?? [];
  if (types.length === 0) return null;
  return (
    <fieldset className="bindings">
      <legend>Credentials</legend>
      {types.map((type) => {
        const id = `${plugin?.name}:${type.name}`;
        return (
          <label key={type.name}>
            {type.title ?? type.name}
            <select
              value={bound[type.name] ?? ''}
              onChange={(e) => {
                const next = { ...bound };
                if (e.target.value) next[type.name] = e.target.value;
                else delete next[type.name];
                onChange(next);
              }}
            >
              <option value="">none</option>
              {stored
                .filter((c) => c.type === id)
                .map((c) => (
                  <option key={c.name} value={c.name}>
                    {c.name}
                  </option>
                ))}
            </select>
          </label>
        );
      })}
    </fieldset>
  );
}

function TriggerFields({ spec, onChange }: { spec: Trigger; onChange: (spec: Trigger) => void }) {
  const field = (name: keyof Trigger, label: string) => (
    <label>
      {label}
      <input value={(spec[name] as string | undefined) ?? ''} onChange={(e) => onChange({ ...spec, [name]: e.target.value })} />
    </label>
  );
  switch (spec.type) {
    case 'webhook':
      return (
        <>
          {field('path', 'Path')}
          <label>
            Mode
            <select value={spec.mode ?? 'async'} onChange={(e) => onChange({ ...spec, mode: e.target.value as 'sync' | 'async' })}>
              <option value="async">async (answer 202 at once)</option>
              <option value="sync">sync (answer with the result)</option>
            </select>
          </label>
        </>
      );
    case 'schedule':
      return (
        <>
          {field('cron', 'Cron')}
          {field('timezone', 'Time zone')}
          <CronPreview cron={spec.cron ?? ''} timezone={spec.timezone} />
        </>
      );
    case 'event':
      return field('event', 'Event name');
    default:
      return <p>Started by hand.</p>;
  }
}

function NodeFields({
  spec,
  schema,
  onChange,
}: {
  spec: NodeSpec;
  schema: RJSFSchema | undefined;
  onChange: (spec: NodeSpec) => void;
}) {
  return (
    <>
      {schema ? (
        <Form
          schema={schema}
          formData={spec.config ?? {}}
          validator={serverValidates}
          onChange={(e) => onChange({ ...spec, config: e.formData as unknown })}
          uiSchema={{ 'ui:submitButtonOptions': { norender: true } }}
          idPrefix={`config-${spec.id}`}
        />
      ) : (
        <p>This node type describes no configuration.</p>
      )}
      <label>
        Retries (attempts)
        <input
          type="number"
          min={1}
          value={spec.retry?.max_attempts ?? ''}
          onChange={(e) =>
            onChange({ ...spec, retry: e.target.value ? { ...spec.retry, max_attempts: Number(e.target.value) } : undefined })
          }
        />
      </label>
      <label>
        Timeout (ms)
        <input
          type="number"
          min={1}
          value={spec.timeout_ms ?? ''}
          onChange={(e) => onChange({ ...spec, timeout_ms: e.target.value ? Number(e.target.value) : undefined })}
        />
      </label>
      <label>
        On error
        <select value={spec.on_error ?? 'stop'} onChange={(e) => onChange({ ...spec, on_error: e.target.value as NodeSpec['on_error'] })}>
          <option value="stop">stop the execution</option>
          <option value="continue">continue with the input</option>
          <option value="error_port">send to the error port</option>
        </select>
      </label>
    </>
  );
}

/** Where a node added without a pointer goes: right of the rightmost one. */
function besideTheRest(positions: Positions): { x: number; y: number } {
  const placed = Object.values(positions);
  if (placed.length === 0) return { x: 40, y: 40 };
  const right = placed.reduce((a, b) => (b.x > a.x ? b : a));
  return { x: right.x + NODE_WIDTH + 60, y: right.y };
}

function EditorCanvas({
  draft,
  dispatch,
  entries,
}: {
  draft: Draft;
  dispatch: (action: Action) => void;
  entries: PaletteEntry[];
}) {
  const flow = useReactFlow();
  const byNode = problemsByNode(draft.problems);
  const nodes: BoxNode[] = draft.graph.nodes.map((node) => ({
    id: node.id,
    type: 'box',
    position: draft.positions[node.id] ?? { x: 0, y: 0 },
    data: { node, problems: byNode.get(node.id) ?? [] },
    selected: draft.selected === node.id,
    ariaLabel: `${node.kind} ${node.id}: ${describe(node)}`,
  }));
  const edges = draft.graph.edges.map((edge) => ({
    id: edge.id,
    source: edge.source,
    sourceHandle: edge.port,
    target: edge.target,
    targetHandle: 'in',
    label: edge.port === 'main' ? undefined : edge.port,
  }));
  const taken = draft.graph.nodes.map((n) => n.id);
  const drop = (event: DragEvent) => {
    event.preventDefault();
    const data = event.dataTransfer.getData(DRAG_TYPE);
    if (!data) return;
    const entry = JSON.parse(data) as PaletteEntry;
    const at = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
    dispatch({ type: 'add', node: nodeFrom(entry, taken), at });
  };
  return (
    <div className="editor-body">
      <Palette
        entries={entries}
        onAdd={(entry) => dispatch({ type: 'add', node: nodeFrom(entry, taken), at: besideTheRest(draft.positions) })}
      />
      <div className="canvas" aria-label="Editor canvas" onDragOver={(e) => e.preventDefault()} onDrop={drop}>
        <ReactFlow
          nodes={nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          onNodeClick={(_, node) => dispatch({ type: 'select', id: node.id })}
          onPaneClick={() => dispatch({ type: 'select', id: null })}
          onNodeDragStop={(_, node) => dispatch({ type: 'move', id: node.id, at: node.position })}
          onConnect={(c: FlowConnection) => dispatch({ type: 'connect', source: c.source, port: c.sourceHandle ?? 'main', target: c.target })}
          fitView
          fitViewOptions={{ maxZoom: 1 }}
          proOptions={{ hideAttribution: true }}
        >
          <Background />
          <Controls />
        </ReactFlow>
      </div>
    </div>
  );
}

async function loadDraft(id: string | null): Promise<Draft> {
  if (id === null) {
    return { base: { id: '', triggers: [], nodes: [] }, graph: { nodes: [], edges: [] }, positions: {}, selected: null, problems: [] };
  }
  const workflow = await api.workflow(id);
  const graph = workflowToGraph(workflow.definition);
  return { base: workflow.definition, graph, positions: await layout(graph), selected: null, problems: [] };
}

export default function Editor({ id }: { id: string | null }) {
  const [draft, dispatch] = useReducer(reduce, null);
  const [plugins, setPlugins] = useState<Plugin[]>([]);
  const [stored, setStored] = useState<Credential[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  useEffect(() => {
    let live = true;
    Promise.all([loadDraft(id), api.plugins(), api.credentials()]).then(
      ([loaded, installed, credentials]) => {
        if (!live) return;
        dispatch({ type: 'load', draft: loaded });
        setPlugins(installed);
        setStored(credentials);
      },
      (e: unknown) => live && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      live = false;
    };
  }, [id]);

  const entries = useMemo(() => paletteOf(plugins), [plugins]);
  if (error) return <p role="alert">{error}</p>;
  if (!draft) return <p>Loading…</p>;

  const selected = draft.graph.nodes.find((n) => n.id === draft.selected);
  const schemaOf = (spec: NodeSpec): RJSFSchema | undefined => {
    const plugin = plugins.find((p) => p.name === spec.uses.split('@')[0]);
    const schema = plugin?.nodes.find((n) => n.name === spec.node)?.config_schema;
    return schema && typeof schema === 'object' ? (schema as RJSFSchema) : undefined;
  };
  const general = problemsByNode(draft.problems).get('') ?? [];
  const pluginOf = (uses: string | undefined) => plugins.find((p) => p.name === (uses ?? 'wirework/core').split('@')[0]);

  const save = async () => {
    setSaving(true);
    dispatch({ type: 'problems', problems: [] });
    try {
      const definition = graphToWorkflow(draft.graph, draft.base);
      const deployed = await api.deploy(JSON.stringify(definition));
      window.location.hash = href({ kind: 'workflow', id: deployed.id });
    } catch (e) {
      const problems = e instanceof ApiError && e.problems.length > 0 ? e.problems : [{ location: '', message: String(e instanceof Error ? e.message : e) }];
      dispatch({ type: 'problems', problems });
    } finally {
      setSaving(false);
    }
  };

  return (
    <section className="editor" aria-labelledby="editor-title">
      <h1 id="editor-title">{id === null ? 'New workflow' : `Edit ${id}`}</h1>
      <div className="actions">
        <label>
          Workflow id
          <input
            value={draft.base.id}
            readOnly={id !== null}
            onChange={(e) => dispatch({ type: 'base', base: { ...draft.base, id: e.target.value } })}
            pattern="[a-z0-9_-]{1,64}"
            required
          />
        </label>
        <label>
          Name
          <input value={draft.base.name ?? ''} onChange={(e) => dispatch({ type: 'base', base: { ...draft.base, name: e.target.value } })} />
        </label>
        <button type="button" className="primary" onClick={save} disabled={saving || draft.base.id === ''}>
          Save as a new version
        </button>
      </div>
      {general.length > 0 && (
        <ul role="alert" className="error">
          {general.map((p, i) => (
            <li key={i}>
              {p.location && <code>{p.location}: </code>}
              {p.message}
            </li>
          ))}
        </ul>
      )}
      <div className="editor-layout">
        <ReactFlowProvider>
          <EditorCanvas draft={draft} dispatch={dispatch} entries={entries} />
        </ReactFlowProvider>
        <aside className="inspector" aria-label="Inspector">
          {selected ? (
            <>
              <h2>{selected.id}</h2>
              <p className="meta">{describe(selected)}</p>
              {selected.kind === 'trigger' ? (
                <TriggerFields spec={selected.spec as Trigger} onChange={(spec) => dispatch({ type: 'spec', id: selected.id, spec })} />
              ) : null}
              {(selected.kind === 'node' || (selected.spec as Trigger).type === 'webhook') && (
                <CredentialBindings
                  plugin={pluginOf((selected.spec as NodeSpec | Trigger).uses)}
                  stored={stored}
                  bound={(selected.spec as NodeSpec | Trigger).credentials ?? {}}
                  onChange={(credentials) =>
                    dispatch({
                      type: 'spec',
                      id: selected.id,
                      spec: { ...selected.spec, credentials: Object.keys(credentials).length ? credentials : undefined } as NodeSpec,
                    })
                  }
                />
              )}
              {selected.kind === 'trigger' ? null : (
                <NodeFields
                  spec={selected.spec as NodeSpec}
                  schema={schemaOf(selected.spec as NodeSpec)}
                  onChange={(spec) => dispatch({ type: 'spec', id: selected.id, spec })}
                />
              )}
              <button type="button" onClick={() => dispatch({ type: 'remove', id: selected.id })}>
                Remove {selected.id}
              </button>
            </>
          ) : (
            <p>Select a trigger or node to configure it; drag node types from the palette; connect a port to a node.</p>
          )}
        </aside>
      </div>
    </section>
  );
}
