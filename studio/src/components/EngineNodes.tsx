// The inspector of the nodes the engine runs itself, besides decision
// tables (DecisionTable.tsx): a call of another workflow, and batches.
import type { NodeSpec } from '../api/types';
import { api } from '../api/client';
import { useLoad } from './useLoad';
import { WorkflowSelect } from './WorkflowSelect';

type Call = NonNullable<NodeSpec['call']>;
type Batches = NonNullable<NodeSpec['batches']>;

/** Which workflow a node calls, which version, and whether it waits. */
export function CallFields({ call, self, onChange }: { call: Call; self: string; onChange: (call: Call) => void }) {
  const workflows = useLoad(() => api.workflows(), 'workflows');
  const ids = workflows.state === 'ready' ? workflows.value.map((w) => w.id).filter((id) => id !== self && !id.endsWith('~test')) : [];
  return (
    <fieldset>
      <legend>Call a workflow</legend>
      <WorkflowSelect
        value={call.workflow}
        ids={[...new Set([call.workflow, ...ids])].filter(Boolean)}
        none="(choose)"
        onChange={(workflow) => onChange({ ...call, workflow })}
      />
      <label>
        Version (empty: the one current when this workflow is saved){' '}
        <input
          type="number"
          min={1}
          value={call.version ?? ''}
          onChange={(e) => onChange({ ...call, version: e.target.value === '' ? undefined : Number(e.target.value) })}
        />
      </label>
      <label>
        <input type="checkbox" checked={call.wait !== false} onChange={(e) => onChange({ ...call, wait: e.target.checked })} /> Wait for
        its output (else start it and go on)
      </label>
    </fieldset>
  );
}

/** How many items a batches node hands on per trip round its loop. */
export function BatchesFields({ batches, onChange }: { batches: Batches; onChange: (batches: Batches) => void }) {
  return (
    <fieldset>
      <legend>Batches</legend>
      <label>
        Items per batch (1: for each item){' '}
        <input type="number" min={1} max={10000} value={batches.size} onChange={(e) => onChange({ size: Math.max(1, Number(e.target.value) || 1) })} />
      </label>
      <p className="meta">
        Connect <code>batch</code> to the loop&apos;s first node, the loop&apos;s last node back here with a maximum of trips, and{' '}
        <code>done</code> to what follows.
      </p>
    </fieldset>
  );
}
