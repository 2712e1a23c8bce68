// The visual editor: a palette of the installed plugins' node types and the
// engine's triggers (searchable; drag onto the canvas, or Add with the
// keyboard), the canvas (connect an output port to a node), an inspector for
// the selected trigger or node (its configuration as a form generated from
// the node's JSON Schema, retry, timeout, on_error), and Save, which deploys
// the draft as a new version. The server validates; its problems show on the
// node they name.
import '@xyflow/react/dist/style.css';
import Form from '@rjsf/core';
import type { ErrorSchema, RJSFSchema, ValidatorType } from '@rjsf/utils';
import {
  Background,
  Controls,
  Handle,
  Panel,
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
import type { Credential, Execution, NodeSpec, Plugin, Problem, Trigger, WorkflowDefinition } from '../api/types';
import { DecisionTableEditor } from './DecisionTable';
import { BatchesFields, CallFields } from './EngineNodes';
import { addNode, badId, configErrors, connect, disconnect, nodeFrom, portsOf, problemsByNode, removeNode, renameNode, type PaletteEntry } from '../model/editor';
import { failure, stepsByNode, type NodeState } from '../model/executions';
import { itemCount, livePins, outputsByNode, parseSample, pinsToRunFrom, type Pins, type PortItems } from '../model/testrun';
import { OutputPorts } from './Canvas';
import { Connections } from './Connections';
import { TestData } from './TestData';
import { describe, graphToWorkflow, workflowToGraph, type Graph, type GraphNode } from '../model/graph';
import { layout, NODE_HEIGHT, NODE_WIDTH, positionsFor, withPositions, type Positions } from '../model/layout';
import { go, href } from '../route';

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

/** The last test run of the draft: its execution, and what each node emitted. */
interface LastRun {
  execution: Execution;
  outputs: Map<string, PortItems>;
  states: Map<string, NodeState>;
}

interface Draft {
  base: WorkflowDefinition;
  graph: Graph;
  positions: Positions;
  selected: string | null;
  problems: Problem[];
  /** Outputs pinned for test runs, by node: those nodes are not called. */
  pins: Pins;
  /** A test run's trigger items, as the author typed them (JSON). */
  sample: string;
  run: LastRun | null;
}

type Action =
  | { type: 'load'; draft: Draft }
  | { type: 'add'; node: GraphNode; at: { x: number; y: number } }
  | { type: 'connect'; source: string; port: string; target: string }
  | { type: 'move'; id: string; at: { x: number; y: number } }
  | { type: 'arrange'; positions: Positions }
  | { type: 'select'; id: string | null }
  | { type: 'remove'; id: string }
  | { type: 'spec'; id: string; spec: Trigger | NodeSpec }
  | { type: 'base'; base: WorkflowDefinition }
  | { type: 'problems'; problems: Problem[] }
  | { type: 'disconnect'; edge: string }
  | { type: 'rename'; from: string; to: string }
  | { type: 'pin'; id: string; ports: PortItems | null }
  | { type: 'sample'; text: string }
  | { type: 'ran'; run: LastRun };

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
    case 'arrange':
      return { ...draft, positions: action.positions };
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
    case 'disconnect':
      return { ...draft, graph: disconnect(draft.graph, action.edge) };
    case 'rename': {
      const { from, to } = action;
      const move = <T,>(record: Record<string, T>): Record<string, T> =>
        Object.fromEntries(Object.entries(record).map(([k, v]) => [k === from ? to : k, v]));
      return {
        ...draft,
        graph: renameNode(draft.graph, from, to),
        positions: move(draft.positions),
        pins: move(draft.pins),
        selected: draft.selected === from ? to : draft.selected,
      };
    }
    case 'pin': {
      const pins = { ...draft.pins };
      if (action.ports) pins[action.id] = action.ports;
      else delete pins[action.id];
      return { ...draft, pins };
    }
    case 'sample':
      return { ...draft, sample: action.text };
    case 'ran':
      return { ...draft, run: action.run, problems: [] };
  }
}

/** The palette: every installed plugin's node types, and the engine's triggers. */
function paletteOf(plugins: Plugin[]): PaletteEntry[] {
  const entries: PaletteEntry[] = [
    { kind: 'trigger', type: 'manual', title: 'Manual', description: 'Started by hand, from the API or the CLI' },
    { kind: 'trigger', type: 'schedule', title: 'Schedule', description: 'A cron schedule in a time zone' },
    { kind: 'trigger', type: 'event', title: 'Event', description: 'An event, from the API, a node or a plugin trigger' },
    { kind: 'decide', title: 'Decision table', description: 'Business rules as a table, decided per item by the engine' },
    { kind: 'call', title: 'Call a workflow', description: 'Run another workflow with the items, and wait for its output or not' },
    { kind: 'batches', title: 'Batches', description: 'Hand the items round a loop a few at a time (1: for each item)' },
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
  switch (entry.kind) {
    case 'trigger':
      return `${entry.title} trigger`;
    case 'node':
    case 'plugin-trigger':
      return `${entry.title} (${entry.plugin}@${entry.version})`;
    default:
      return entry.title;
  }
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
            data-testid={`palette-${'node' in entry ? `${entry.plugin}/${entry.node}` : entry.kind === 'trigger' ? entry.type : entry.kind}`}
            onDragStart={(e) => {
              e.dataTransfer.setData(DRAG_TYPE, JSON.stringify(entry));
              e.dataTransfer.effectAllowed = 'move';
            }}
          >
            <div className="entry-title">{entryLabel(entry)}</div>
            <div className="entry-kind">{entry.kind === 'trigger' || entry.kind === 'plugin-trigger' ? 'trigger' : 'action'}</div>
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

type BoxData = { node: GraphNode; problems: Problem[]; state?: NodeState; pinned: boolean; items?: number };
type BoxNode = Node<BoxData, 'box'>;

function EditableBox({ data, selected }: NodeProps<BoxNode>) {
  const { node, problems, state, pinned, items } = data;
  const ports = node.kind === 'node' ? portsOf(node) : node.ports.length > 0 ? node.ports : ['main'];
  return (
    <div
      className={`box ${node.kind}${problems.length > 0 ? ' has-problems' : ''}${selected ? ' selected' : ''}${state ? ` ran-${state}` : ''}`}
      style={{ width: NODE_WIDTH, minHeight: NODE_HEIGHT }}
      data-testid={`node-${node.id}`}
      data-state={state}
    >
      {node.kind === 'node' && <Handle type="target" position={Position.Left} id="in" data-testid={`port-${node.id}-in`} />}
      <div className="box-id">
        {node.id}
        {pinned && <span className="pin-badge"> · pinned</span>}
      </div>
      <div className="box-what">{describe(node)}</div>
      {state && (
        <div className="box-state">
          {state}
          {items !== undefined ? ` · ${items} item${items === 1 ? '' : 's'}` : ''}
        </div>
      )}
      {problems.map((p, i) => (
        <div key={i} className="box-problem" role="status">
          {p.location.replace(/^[a-z]+\[\d+\]\([^)]*\)\.?/, '') || 'here'}: {p.message}
        </div>
      ))}
      <OutputPorts node={node.id} ports={ports} />
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

/** The selected trigger's or node's id, renamed on Enter or Rename (its connections follow). */
function RenameField({ id, check, onRename }: { id: string; check: (to: string) => string | null; onRename: (to: string) => void }) {
  const [text, setText] = useState(id);
  const problem = check(text);
  return (
    <form
      className="rename"
      onSubmit={(e) => {
        e.preventDefault();
        if (text !== id && problem === null) onRename(text);
      }}
    >
      <label>
        Id
        <input value={text} onChange={(e) => setText(e.target.value)} aria-invalid={problem !== null} />
      </label>
      <button type="submit" disabled={text === id || problem !== null}>
        Rename
      </button>
      {problem && (
        <span className="error" role="status">
          {problem}
        </span>
      )}
    </form>
  );
}

/**
 * The node's configuration as JSON text, for what a generated form edits
 * poorly (free-form objects: `set`'s fields, a condition) and for pasting.
 * Keyed by the configuration, so that an edit in the form shows here.
 */
function ConfigJson({ node, config, onChange }: { node: string; config: unknown; onChange: (config: unknown) => void }) {
  const [text, setText] = useState(() => JSON.stringify(config, null, 2));
  const [error, setError] = useState<string | null>(null);
  const apply = () => {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('the configuration is a JSON object');
      setError(null);
      onChange(parsed);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <details className="config-json">
      <summary>Configuration as JSON</summary>
      <label htmlFor={`config-json-${node}`}>Configuration (JSON)</label>
      <textarea id={`config-json-${node}`} rows={8} value={text} onChange={(e) => setText(e.target.value)} spellCheck={false} />
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <button type="button" onClick={apply}>
        Apply configuration
      </button>
    </details>
  );
}

function NodeFields({
  spec,
  schema,
  problems,
  onChange,
}: {
  spec: NodeSpec;
  schema: RJSFSchema | undefined;
  /** The server's problems with the draft: those about this node's configuration show on their fields. */
  problems: Problem[];
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
          extraErrors={configErrors(problems, spec.id) as ErrorSchema}
          showErrorList={false}
          idPrefix={`config-${spec.id}`}
        />
      ) : (
        <p>This node type describes no configuration.</p>
      )}
      <ConfigJson key={JSON.stringify(spec.config ?? {})} node={spec.id} config={spec.config ?? {}} onChange={(config) => onChange({ ...spec, config })} />
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
    data: {
      node,
      problems: byNode.get(node.id) ?? [],
      state: draft.run?.states.get(node.id),
      pinned: draft.pins[node.id] !== undefined,
      items: draft.run?.outputs.has(node.id) ? itemCount(draft.run.outputs.get(node.id)!) : undefined,
    },
    selected: draft.selected === node.id,
    ariaLabel: `${node.kind} ${node.id}: ${describe(node)}${draft.run?.states.get(node.id) ? `, ${draft.run.states.get(node.id)}` : ''}`,
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
  /** Lay the draft out again (ELK, left to right, as a deployed workflow is shown) and fit it in view. */
  const arrange = async () => {
    dispatch({ type: 'arrange', positions: await layout(draft.graph) });
    // Once the new positions are rendered.
    requestAnimationFrame(() => void flow.fitView({ maxZoom: 1 }));
  };
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
          <Panel position="top-right">
            <button type="button" onClick={arrange}>
              Lay out
            </button>
          </Panel>
        </ReactFlow>
      </div>
    </div>
  );
}

/** What a draft starts without: problems, pins, sample input, a last run. */
const fresh = { problems: [], pins: {}, sample: '{}', run: null };

async function loadDraft(id: string | null): Promise<Draft> {
  if (id === null) {
    const graph = { nodes: [], edges: [] };
    return { base: { id: '', triggers: [], nodes: [] }, graph, positions: {}, selected: null, ...fresh };
  }
  const workflow = await api.workflow(id);
  const graph = workflowToGraph(workflow.definition);
  const positions = await positionsFor(graph, workflow.definition.layout?.positions);
  return { base: workflow.definition, graph, positions, selected: null, ...fresh };
}

export default function Editor({ id }: { id: string | null }) {
  const [draft, dispatch] = useReducer(reduce, null);
  const [plugins, setPlugins] = useState<Plugin[]>([]);
  const [stored, setStored] = useState<Credential[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [testing, setTesting] = useState(false);
  const [testError, setTestError] = useState<string | null>(null);

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
      const definition = withPositions(graphToWorkflow(draft.graph, draft.base), draft.positions);
      const deployed = await api.deploy(JSON.stringify(definition));
      go({ kind: 'workflow', id: deployed.id });
    } catch (e) {
      dispatch({ type: 'problems', problems: failedProblems(e) });
    } finally {
      setSaving(false);
    }
  };

  const failedProblems = (e: unknown): Problem[] =>
    e instanceof ApiError && e.problems.length > 0 ? e.problems : [{ location: '', message: String(e instanceof Error ? e.message : e) }];

  /** Run the draft once (from node `from`: everything before it pinned to its last output). */
  const testRun = async (from?: string) => {
    setTestError(null);
    const sample = parseSample(draft.sample);
    if ('error' in sample) return setTestError(`Sample input: ${sample.error}`);
    let pins = livePins(draft.graph, draft.pins);
    if (from) {
      const planned = pinsToRunFrom(draft.graph, from, draft.run?.outputs ?? new Map(), pins);
      if (planned.missing.length > 0) {
        return setTestError(`To run from ${from}, test-run the whole draft first: ${planned.missing.join(', ')} have no output yet.`);
      }
      pins = planned.pins;
    }
    setTesting(true);
    dispatch({ type: 'problems', problems: [] });
    try {
      const run = await api.testRun(withPositions(graphToWorkflow(draft.graph, draft.base), draft.positions), sample.items, pins);
      const execution = await api.execution(run.execution_id);
      const states = new Map([...stepsByNode(execution)].map(([node, { state }]) => [node, state]));
      dispatch({ type: 'ran', run: { execution, outputs: outputsByNode(execution), states } });
    } catch (e) {
      dispatch({ type: 'problems', problems: failedProblems(e) });
    } finally {
      setTesting(false);
    }
  };
  const run = draft.run;

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
      <div className="test-run">
        <label htmlFor="sample-input">Sample input (a JSON object, or an array of them)</label>
        <textarea
          id="sample-input"
          rows={2}
          value={draft.sample}
          onChange={(e) => dispatch({ type: 'sample', text: e.target.value })}
          spellCheck={false}
        />
        <button type="button" onClick={() => testRun()} disabled={testing || draft.base.id === ''}>
          {testing ? 'Running…' : 'Test run'}
        </button>
        {testError && (
          <p role="alert" className="error">
            {testError}
          </p>
        )}
        {run && (
          <p role="status" aria-label="Last test run" className="meta">
            Test run <span className={`status ${run.execution.status}`}>{run.execution.status}</span>
            {run.execution.error ? `: ${run.execution.error.node ? `${run.execution.error.node}: ` : ''}${run.execution.error.message}` : ''} ·{' '}
            <a href={href({ kind: 'execution', id: run.execution.id })}>open its execution</a>
          </p>
        )}
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
          <label>
            Selected
            <select value={draft.selected ?? ''} onChange={(e) => dispatch({ type: 'select', id: e.target.value || null })}>
              <option value="">none</option>
              {draft.graph.nodes.map((n) => (
                <option key={n.id} value={n.id}>
                  {n.id}
                </option>
              ))}
            </select>
          </label>
          {selected ? (
            <>
              <h2>{selected.id}</h2>
              <RenameField key={`rename:${selected.id}`} id={selected.id} check={(to) => badId(draft.graph, to, selected.id)} onRename={(to) => dispatch({ type: 'rename', from: selected.id, to })} />
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
              {selected.kind === 'node' && (selected.spec as NodeSpec).decide ? (
                <DecisionTableEditor
                  table={(selected.spec as NodeSpec).decide!}
                  onChange={(decide) => dispatch({ type: 'spec', id: selected.id, spec: { ...(selected.spec as NodeSpec), decide } })}
                />
              ) : selected.kind === 'node' && (selected.spec as NodeSpec).call ? (
                <CallFields
                  call={(selected.spec as NodeSpec).call!}
                  self={draft.base.id}
                  onChange={(call) => dispatch({ type: 'spec', id: selected.id, spec: { ...(selected.spec as NodeSpec), call } })}
                />
              ) : selected.kind === 'node' && (selected.spec as NodeSpec).batches ? (
                <BatchesFields
                  batches={(selected.spec as NodeSpec).batches!}
                  onChange={(batches) => dispatch({ type: 'spec', id: selected.id, spec: { ...(selected.spec as NodeSpec), batches } })}
                />
              ) : selected.kind === 'trigger' ? null : (
                <NodeFields
                  spec={selected.spec as NodeSpec}
                  schema={schemaOf(selected.spec as NodeSpec)}
                  problems={draft.problems}
                  onChange={(spec) => dispatch({ type: 'spec', id: selected.id, spec })}
                />
              )}
              <Connections
                key={`connections:${selected.id}`}
                graph={draft.graph}
                node={selected}
                onConnect={(port, target) => dispatch({ type: 'connect', source: selected.id, port, target })}
                onDisconnect={(edge) => dispatch({ type: 'disconnect', edge })}
              />
              {selected.kind === 'node' && (
                <TestData
                  key={`test:${selected.id}:${JSON.stringify(draft.pins[selected.id] ?? null)}`}
                  node={selected.id}
                  output={run?.outputs.get(selected.id)}
                  failure={run ? stepsByNode(run.execution).get(selected.id)?.steps.map(failure).filter(Boolean).pop() : undefined}
                  pinned={draft.pins[selected.id]}
                  busy={testing}
                  onPin={(ports) => dispatch({ type: 'pin', id: selected.id, ports })}
                  onRunFrom={() => testRun(selected.id)}
                />
              )}
              <button type="button" onClick={() => dispatch({ type: 'remove', id: selected.id })}>
                Remove {selected.id}
              </button>
            </>
          ) : (
            <p>
              Select a trigger or node to configure it; drag node types from the palette (or Add them); connect a port to a node on the
              canvas, or with Connect here.
            </p>
          )}
        </aside>
      </div>
    </section>
  );
}
