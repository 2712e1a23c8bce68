// One execution on the canvas of the exact version it ran: each node
// coloured by how it ran, and for the selected node every step with its
// attempt, input and output items, fuel, wall time, logs and error. Items are
// shown as JSON text. Failed executions can be retried; running or waiting
// ones cancelled. Status changes the server pushes reload it.
import { useEffect, useState } from 'react';
import { api } from '../api/client';
import type { Execution, StepRecord } from '../api/types';
import { awaitedEvents, emitted, failure, outcomeKind, stepsByNode } from '../model/executions';
import { href } from '../route';
import { buildCanvas, Canvas, type CanvasModel } from './Canvas';
import { useLoad } from './useLoad';

interface Loaded {
  execution: Execution;
  model: CanvasModel;
}

async function load(id: string): Promise<Loaded> {
  const execution = await api.execution(id);
  const versions = await api.versions(execution.workflow_id);
  const version = versions.find((v) => v.version === execution.workflow_version);
  if (!version) throw new Error(`version ${execution.workflow_version} of ${execution.workflow_id} is gone`);
  const states = new Map([...stepsByNode(execution)].map(([node, entry]) => [node, entry.state]));
  return { execution, model: await buildCanvas(version.workflow, states) };
}

/** Resume a wait by hand: send the event it waits for, with a payload. */
function Resume({ event, onSent }: { event: string; onSent: () => void }) {
  const [payload, setPayload] = useState('{}');
  const [error, setError] = useState<string | null>(null);
  const send = async () => {
    setError(null);
    try {
      const parsed: unknown = JSON.parse(payload);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('the payload must be a JSON object');
      await api.emit(event, parsed as Record<string, unknown>);
      onSent();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  const id = `payload-${event}`;
  return (
    <div className="resume">
      <p>
        Waiting for the event <code>{event}</code>.
      </p>
      <label htmlFor={id}>Payload of {event}</label>
      <textarea id={id} value={payload} onChange={(e) => setPayload(e.target.value)} rows={4} spellCheck={false} />
      <button type="button" onClick={send}>
        Send {event}
      </button>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </div>
  );
}

function Json({ value }: { value: unknown }) {
  return <pre className="json">{JSON.stringify(value, null, 2)}</pre>;
}

function Step({ step }: { step: StepRecord }) {
  const kind = outcomeKind(step);
  const error = failure(step);
  return (
    <article className={`step ${kind}`} aria-label={`step ${step.step}, attempt ${step.attempt}`}>
      <h3>
        Step {step.step} · attempt {step.attempt} · {kind}
        {step.resumed ? ' (resumed)' : ''}
      </h3>
      <p className="meta">
        {step.plugin} · {step.fuel ?? 0} fuel · {((step.duration_us ?? 0) / 1000).toFixed(1)} ms
      </p>
      {error && (
        <p className="error" role="status">
          {error}
        </p>
      )}
      {(step.input?.length ?? 0) > 0 && (
        <details open>
          <summary>Input ({step.input?.length} items)</summary>
          <Json value={step.input} />
        </details>
      )}
      {emitted(step).map(([port, items]) => (
        <details open key={port}>
          <summary>
            Output on {port} ({items.length} items)
          </summary>
          <Json value={items} />
        </details>
      ))}
      {step.child_execution && (
        <p>
          Started execution <a href={href({ kind: 'execution', id: step.child_execution })}>{step.child_execution}</a>
        </p>
      )}
      {kind === 'waiting' && <Json value={(step.outcome as { waiting?: unknown }).waiting} />}
      {(step.logs?.length ?? 0) > 0 && (
        <details>
          <summary>Logs</summary>
          <ul className="logs">
            {step.logs?.map((line, i) => (
              <li key={i}>
                [{line.level}] {line.message}
              </li>
            ))}
          </ul>
        </details>
      )}
    </article>
  );
}

/** The workflow a test run's draft belongs to (`lead-intake~test` → `lead-intake`), or null for a deployed workflow. */
function testOf(workflowId: string): string | null {
  return workflowId.endsWith('~test') ? workflowId.slice(0, -'~test'.length) : null;
}

export default function ExecutionView({ id }: { id: string }) {
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  const [busy, setBusy] = useState(false);
  const current = useLoad(() => load(id), id, reloads);

  useEffect(
    () =>
      api.followExecutions(
        (change) => change.id === id && setReloads((n) => n + 1),
        () => setReloads((n) => n + 1),
      ),
    [id],
  );

  const failed = error ?? (current.state === 'failed' ? current.error : null);
  if (failed) return <p role="alert">Could not load execution {id}: {failed}</p>;
  if (current.state !== 'ready') return <p>Loading…</p>;
  const { execution, model } = current.value;
  const nodes = stepsByNode(execution);
  const shown = selected ?? execution.steps[execution.steps.length - 1]?.node ?? null;
  const act = async (what: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await what();
      setReloads((n) => n + 1);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="execution" aria-labelledby="execution-title">
      <h1 id="execution-title">
        {testOf(execution.workflow_id) !== null ? (
          <>
            Test run {execution.workflow_version} of{' '}
            <a href={href({ kind: 'edit', id: testOf(execution.workflow_id) })}>{testOf(execution.workflow_id)}</a>
          </>
        ) : (
          <>
            Execution of <a href={href({ kind: 'workflow', id: execution.workflow_id })}>{execution.workflow_id}</a> v
            {execution.workflow_version}
          </>
        )}{' '}
        <span className={`status ${execution.status}`}>{execution.status}</span>
      </h1>
      <p className="meta">
        {execution.id} · started {new Date(execution.created_ms).toLocaleString()}
        {execution.finished_ms ? ` · took ${execution.finished_ms - execution.created_ms} ms` : ''}
      </p>
      {execution.parent && (
        <p>
          Called by step {execution.parent.step} ({execution.parent.node}) of execution{' '}
          <a href={href({ kind: 'execution', id: execution.parent.execution_id })}>{execution.parent.execution_id}</a>
        </p>
      )}
      {execution.compensation && (
        <section aria-label="Compensation">
          <h2>Compensation: {execution.compensation.status}</h2>
          <ol>
            {execution.compensation.steps.map((s) => (
              <li key={s.step}>
                {s.by} undoes {s.node} (step {s.compensates}): {s.status}
                {s.error ? ` · ${s.error}` : ''}
              </li>
            ))}
          </ol>
        </section>
      )}
      {execution.error && (
        <p className="error" role="alert">
          {execution.error.node ? `${execution.error.node}: ` : ''}
          {execution.error.message}
        </p>
      )}
      <div className="actions">
        {execution.status === 'failed' && (
          <button type="button" disabled={busy} onClick={() => act(() => api.retry(id))}>
            Retry from the failed step
          </button>
        )}
        {(execution.status === 'running' || execution.status === 'waiting') && (
          <button type="button" disabled={busy} onClick={() => act(() => api.cancel(id))}>
            Cancel
          </button>
        )}
      </div>
      {awaitedEvents(execution).map((wait) => (
        <Resume key={`${wait.node}-${wait.event}`} event={wait.event} onSent={() => setReloads((n) => n + 1)} />
      ))}
      <div className="split">
        <Canvas model={model} label={`Canvas of execution ${execution.id}`} onSelect={setSelected} />
        <aside className="trace" aria-label="Step trace">
          <h2>
            {shown ?? 'No steps'}
            {shown && nodes.get(shown) ? ` · ${nodes.get(shown)?.state}` : ''}
          </h2>
          <label>
            Node
            <select value={shown ?? ''} onChange={(e) => setSelected(e.target.value)}>
              {[...nodes.keys()].map((node) => (
                <option key={node} value={node}>
                  {node}
                </option>
              ))}
            </select>
          </label>
          {shown && nodes.get(shown)?.steps.map((step) => <Step key={`${step.step}-${step.attempt}`} step={step} />)}
        </aside>
      </div>
    </section>
  );
}
