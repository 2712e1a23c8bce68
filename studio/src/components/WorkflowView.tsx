// A workflow: its current version on the canvas; activate or deactivate it;
// export it as YAML or deploy an edited YAML as a new version (the server's
// validation problems listed, each with its location); its versions, each
// diffed against the current one and one click from a rollback.
import { useState } from 'react';
import { api } from '../api/client';
import type { Workflow, WorkflowVersion } from '../api/types';
import { diffYaml, toYaml } from '../model/yaml';
import { go, href } from '../route';
import { buildCanvas, Canvas, type CanvasModel } from './Canvas';
import { useLoad } from './useLoad';
import { YamlImport } from './YamlImport';

interface Loaded {
  workflow: Workflow;
  versions: WorkflowVersion[];
  model: CanvasModel;
}

async function load(id: string): Promise<Loaded> {
  const [workflow, versions] = await Promise.all([api.workflow(id), api.versions(id)]);
  return { workflow, versions, model: await buildCanvas(workflow.definition) };
}

function download(name: string, text: string) {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([text], { type: 'application/yaml' }));
  link.download = name;
  link.click();
  URL.revokeObjectURL(link.href);
}

function Versions({ loaded, onRollback }: { loaded: Loaded; onRollback: (version: number) => void }) {
  const { workflow, versions } = loaded;
  const [picked, setPicked] = useState<number | null>(null);
  const current = versions.find((v) => v.version === workflow.current);
  const other = versions.find((v) => v.version === picked);
  return (
    <section className="versions" aria-labelledby="versions-title">
      <h2 id="versions-title">Versions</h2>
      <ol reversed>
        {[...versions].reverse().map((v) => (
          <li key={v.version}>
            <button type="button" aria-pressed={picked === v.version} onClick={() => setPicked(v.version)}>
              v{v.version}
            </button>{' '}
            {new Date(v.deployed_ms).toLocaleString()}
            {v.version === workflow.current && <strong> · current</strong>}
          </li>
        ))}
      </ol>
      {other && current && (
        <div className="diff-panel">
          <h3>
            v{other.version} against the current v{current.version}
          </h3>
          {other.version !== current.version && (
            <button type="button" onClick={() => onRollback(other.version)}>
              Roll back to v{other.version}
            </button>
          )}
          <pre className="diff" aria-label={`Changes from v${current.version} to v${other.version}`}>
            {diffYaml(current.workflow, other.workflow).map((line, i) => (
              <span key={i} className={`line ${line.kind}`}>
                {line.kind === 'added' ? '+ ' : line.kind === 'removed' ? '- ' : '  '}
                {line.text}
                {'\n'}
              </span>
            ))}
          </pre>
        </div>
      )}
    </section>
  );
}

export default function WorkflowView({ id }: { id: string }) {
  const [error, setError] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [refusal, setRefusal] = useState<string | null>(null);
  const current = useLoad(() => load(id), id, reloads);

  const failed = error ?? (current.state === 'failed' ? current.error : null);
  if (failed) return <p role="alert">Could not load workflow {id}: {failed}</p>;
  if (current.state !== 'ready') return <p>Loading…</p>;
  const loaded = current.value;
  const { workflow, model } = loaded;
  const fail = (e: unknown) => setError(e instanceof Error ? e.message : String(e));
  const act = (what: () => Promise<unknown>) => what().then(() => setReloads((n) => n + 1), fail);
  return (
    <section className="workflow" aria-labelledby="workflow-title">
      <h1 id="workflow-title">
        {workflow.definition.name || workflow.id}{' '}
        <span className={workflow.active ? 'badge on' : 'badge off'}>{workflow.active ? 'active' : 'inactive'}</span>{' '}
        <span className="version">v{workflow.current}</span>
      </h1>
      <div className="actions">
        <button type="button" onClick={() => act(() => api.setActive(workflow.id, !workflow.active))}>
          {workflow.active ? 'Deactivate' : 'Activate'}
        </button>
        <button type="button" onClick={() => download(`${workflow.id}.yaml`, toYaml(workflow.definition))}>
          Export YAML
        </button>
        <a className="button" href={href({ kind: 'edit', id: workflow.id })}>
          Edit on the canvas
        </a>
        <button type="button" aria-expanded={editing} onClick={() => setEditing((e) => !e)}>
          Edit as YAML
        </button>
        <button type="button" aria-expanded={deleting} onClick={() => setDeleting((d) => !d)}>
          Delete…
        </button>
      </div>
      {deleting && (
        <div className="confirm" role="group" aria-label="Delete the workflow">
          <p>
            Delete {workflow.id} with its {workflow.latest} version{workflow.latest === 1 ? '' : 's'}, its finished executions and its
            test runs? This cannot be undone.
          </p>
          <button
            type="button"
            className="danger"
            onClick={() =>
              api.deleteWorkflow(workflow.id).then(
                () => go({ kind: 'workflows' }),
                (e: unknown) => setRefusal(e instanceof Error ? e.message : String(e)),
              )
            }
          >
            Delete {workflow.id}
          </button>
          <button type="button" onClick={() => setDeleting(false)}>
            Keep it
          </button>
          {refusal && (
            <p role="alert" className="error">
              {refusal}
            </p>
          )}
        </div>
      )}
      {editing && (
        <YamlImport
          key={workflow.current}
          title="Edit as YAML"
          initial={toYaml(workflow.definition)}
          onDeployed={() => {
            setEditing(false);
            setReloads((n) => n + 1);
          }}
        />
      )}
      <div className="split">
        <Canvas model={model} label={`Canvas of ${workflow.id}`} />
        <Versions key={workflow.current} loaded={loaded} onRollback={(v) => act(() => api.rollback(workflow.id, v))} />
      </div>
    </section>
  );
}
