// Executions, newest first, filtered by workflow, status and time, kept live
// by the server's pushed status changes (one event stream for the page, no
// polling).
import { useEffect, useState } from 'react';
import { api, type ExecutionQuery } from '../api/client';
import type { ExecutionChange, ExecutionStatus, ExecutionSummary } from '../api/types';
import { applyChange } from '../model/executions';
import { href } from '../route';
import { WorkflowSelect } from './WorkflowSelect';

const PAGE = 50;
const STATUSES: ExecutionStatus[] = ['running', 'waiting', 'succeeded', 'failed', 'cancelled'];
const WINDOWS: { label: string; ms?: number }[] = [
  { label: 'any time' },
  { label: 'last hour', ms: 3_600_000 },
  { label: 'last day', ms: 86_400_000 },
  { label: 'last week', ms: 7 * 86_400_000 },
];

export default function ExecutionList() {
  const [workflow, setWorkflow] = useState('');
  const [status, setStatus] = useState<ExecutionStatus | ''>('');
  const [period, setPeriod] = useState(0);
  const [rows, setRows] = useState<ExecutionSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [workflows, setWorkflows] = useState<string[]>([]);
  // Bumped to read the list again (the stream said this listener lagged).
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    api.workflows().then((heads) => setWorkflows(heads.map((h) => h.id)), () => undefined);
  }, []);

  useEffect(() => {
    const since = WINDOWS[period]?.ms;
    const query: ExecutionQuery = {
      workflow: workflow || undefined,
      status: status || undefined,
      sinceMs: since === undefined ? undefined : Date.now() - since,
      limit: PAGE,
    };
    // Follow first, then read: the list is read each time the stream
    // (re)connects, and the changes that arrive while it is read are applied
    // to it once it is in, so that no execution is missed in between.
    let live = true;
    let reading: ExecutionChange[] | null = null;
    const read = () => {
      const arrived: ExecutionChange[] = [];
      reading = arrived;
      api.executions(query).then(
        (list) => {
          if (!live || reading !== arrived) return;
          reading = null;
          setRows(arrived.reduce((rows, change) => applyChange(rows, change, query, PAGE), list));
        },
        (e: unknown) => live && setError(String(e)),
      );
    };
    const stop = api.followExecutions(
      (change) => {
        if (!live) return;
        if (reading) reading.push(change);
        else setRows((list) => (list ? applyChange(list, change, query, PAGE) : list));
      },
      () => live && setGeneration((g) => g + 1),
      read,
    );
    return () => {
      live = false;
      stop();
    };
  }, [workflow, status, period, generation]);

  return (
    <section aria-labelledby="executions-title">
      <h1 id="executions-title">Executions</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <WorkflowSelect value={workflow} ids={workflows} none="all" onChange={setWorkflow} />
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.target.value as ExecutionStatus | '')}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Started
          <select value={period} onChange={(e) => setPeriod(Number(e.target.value))}>
            {WINDOWS.map((w, i) => (
              <option key={w.label} value={i}>
                {w.label}
              </option>
            ))}
          </select>
        </label>
      </form>
      {error && <p role="alert">Could not load the executions: {error}</p>}
      {rows === null && !error && <p>Loading…</p>}
      {rows && rows.length === 0 && <p>No executions match.</p>}
      {rows && rows.length > 0 && (
        <table className="list" aria-label="Executions">
          <thead>
            <tr>
              <th scope="col">Execution</th>
              <th scope="col">Workflow</th>
              <th scope="col">Status</th>
              <th scope="col">Started</th>
              <th scope="col">Took</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((e) => (
              <tr key={e.id} data-testid={`execution-${e.id}`}>
                <td>
                  <a href={href({ kind: 'execution', id: e.id })}>{e.id.slice(0, 13)}…</a>
                </td>
                <td>
                  {e.workflow_id} v{e.workflow_version}
                </td>
                <td>
                  <span className={`status ${e.status}`}>{e.status}</span>
                </td>
                <td>{new Date(e.created_ms).toLocaleString()}</td>
                <td>{e.finished_ms ? `${e.finished_ms - e.created_ms} ms` : '…'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
