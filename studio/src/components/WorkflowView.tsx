// A workflow on the canvas, as its current version defines it.
import { api } from '../api/client';
import { buildCanvas, Canvas } from './Canvas';
import { useLoad } from './useLoad';

async function load(id: string) {
  const workflow = await api.workflow(id);
  return { workflow, model: await buildCanvas(workflow.definition) };
}

export default function WorkflowView({ id }: { id: string }) {
  const loaded = useLoad(() => load(id), id);
  if (loaded.state === 'loading') return <p>Loading…</p>;
  if (loaded.state === 'failed') return <p role="alert">Could not load workflow {id}: {loaded.error}</p>;
  const { workflow, model } = loaded.value;
  return (
    <section className="workflow" aria-labelledby="workflow-title">
      <h1 id="workflow-title">
        {workflow.definition.name || workflow.id}{' '}
        <span className={workflow.active ? 'badge on' : 'badge off'}>{workflow.active ? 'active' : 'inactive'}</span>{' '}
        <span className="version">v{workflow.current}</span>
      </h1>
      <Canvas model={model} label={`Canvas of ${workflow.id}`} />
    </section>
  );
}
