// Workflows with their status: active or not, the current version, the last
// run and how many of the recent runs failed.
import { useState } from 'react';
import { api } from '../api/client';
import type { ExecutionSummary, WorkflowHead } from '../api/types';
import { go, href } from '../route';
import { useLoad } from './useLoad';
import { YamlImport } from './YamlImport';

/** How many recent executions the list reads to show last runs and failures. */
const RECENT = 500;

interface Row {
  head: WorkflowHead;
  lastRun: ExecutionSummary | undefined;
  failed: number;
}

async function loadRows(): Promise<Row[]> {
  const [heads, recent] = await Promise.all([api.workflows(), api.executions({ limit: RECENT })]);
  return heads.map((head) => {
    const runs = recent.filter((e) => e.workflow_id === head.id);
    const lastRun = runs.reduce<ExecutionSummary | undefined>((a, b) => (!a || b.created_ms > a.created_ms ? b : a), undefined);
    return { head, lastRun, failed: runs.filter((e) => e.status === 'failed').length };
  });
}

export function WorkflowList() {
  const rows = useLoad(loadRows, 'workflows');
  const [importing, setImporting] = useState(false);
  return (
    <section aria-labelledby="workflows-title">
      <h1 id="workflows-title">Workflows</h1>
      <p className="actions">
        <a className="button" href={href({ kind: 'edit', id: null })}>
          New workflow
        </a>
        <button type="button" aria-expanded={importing} onClick={() => setImporting((i) => !i)}>
          Import YAML
        </button>
      </p>
      {importing && (
        <YamlImport title="Import a workflow" initial="" onDeployed={(deployed) => go({ kind: 'workflow', id: deployed.id })} />
      )}
      {rows.state === 'loading' && <p>Loading…</p>}
      {rows.state === 'failed' && <p role="alert">Could not load the workflows: {rows.error}</p>}
      {rows.state === 'ready' && rows.value.length === 0 && <p>No workflows yet: deploy one with the CLI or the API.</p>}
      {rows.state === 'ready' && rows.value.length > 0 && (
        <table className="list">
          <thead>
            <tr>
              <th scope="col">Workflow</th>
              <th scope="col">Status</th>
              <th scope="col">Version</th>
              <th scope="col">Last run</th>
              <th scope="col">Recent failures</th>
            </tr>
          </thead>
          <tbody>
            {rows.value.map(({ head, lastRun, failed }) => (
              <tr key={head.id}>
                <td>
                  <a href={href({ kind: 'workflow', id: head.id })}>{head.id}</a>
                </td>
                <td>
                  <span className={head.active ? 'badge on' : 'badge off'}>{head.active ? 'active' : 'inactive'}</span>
                </td>
                <td>
                  v{head.current}
                  {head.latest !== head.current && ` (latest v${head.latest})`}
                </td>
                <td>{lastRun ? `${new Date(lastRun.created_ms).toLocaleString()} · ${lastRun.status}` : 'never'}</td>
                <td>{failed}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
