// The execution list kept live from pushed changes, and an execution's
// steps grouped by the node they ran.
import type { ExecutionQuery } from '../api/client';
import type { Execution, ExecutionChange, ExecutionSummary, StepRecord } from '../api/types';

/** Whether `change` belongs in a list filtered by `query`. */
export function matches(change: ExecutionChange, query: ExecutionQuery): boolean {
  if (query.workflow && change.workflow_id !== query.workflow) return false;
  if (query.status && change.status !== query.status) return false;
  if (query.sinceMs !== undefined && change.created_ms < query.sinceMs) return false;
  return true;
}

/**
 * The list after `change`: the execution updated in place, or put first when
 * it is new and matches the filters (the list is newest first), or taken out
 * when it no longer matches; at most `limit` rows.
 */
export function applyChange(
  list: ExecutionSummary[],
  change: ExecutionChange,
  query: ExecutionQuery,
  limit: number,
): ExecutionSummary[] {
  const at = list.findIndex((e) => e.id === change.id);
  if (!matches(change, query)) return at < 0 ? list : list.filter((e) => e.id !== change.id);
  if (at >= 0) {
    const updated = { ...list[at]!, status: change.status, finished_ms: change.finished_ms };
    return list.map((e, i) => (i === at ? updated : e));
  }
  const row: ExecutionSummary = {
    id: change.id,
    workflow_id: change.workflow_id,
    workflow_version: change.workflow_version,
    status: change.status,
    created_ms: change.created_ms,
    finished_ms: change.finished_ms,
    error: null,
  };
  return [row, ...list].slice(0, limit);
}

/** How a node stands in an execution, from its steps. */
export type NodeState = 'succeeded' | 'failed' | 'waiting' | 'not-run';

/** What `step`'s outcome says: `emitted`, `waiting` or `failed`. */
export function outcomeKind(step: StepRecord): 'emitted' | 'waiting' | 'failed' | 'unknown' {
  const outcome = step.outcome as Record<string, unknown>;
  if ('emitted' in outcome) return 'emitted';
  if ('waiting' in outcome) return 'waiting';
  if ('failed' in outcome) return 'failed';
  return 'unknown';
}

/** The items a step emitted, port by port. */
export function emitted(step: StepRecord): [string, unknown[]][] {
  const outcome = step.outcome as { emitted?: { ports?: [string, unknown[]][] } };
  return outcome.emitted?.ports ?? [];
}

/** The failure a step recorded, as text. */
export function failure(step: StepRecord): string | undefined {
  const outcome = step.outcome as { failed?: { failure?: { message?: string; code?: string } } };
  const failed = outcome.failed?.failure;
  if (!failed) return undefined;
  return failed.code ? `${failed.message ?? ''} (${failed.code})` : (failed.message ?? JSON.stringify(failed));
}

/** The events an execution waits for now: the last step of each node, if it is a wait on an event. */
export function awaitedEvents(execution: Execution): { node: string; event: string; untilMs: number | null }[] {
  if (execution.status !== 'waiting') return [];
  const found: { node: string; event: string; untilMs: number | null }[] = [];
  for (const [node, { steps }] of stepsByNode(execution)) {
    const last = steps[steps.length - 1];
    const waiting = (last?.outcome as { waiting?: { event?: string | null; until_ms?: number | null } }).waiting;
    // A called workflow's result (`wirework.call:`) is the engine's own event: nobody sends it by hand.
    if (waiting?.event && !waiting.event.startsWith('wirework.')) found.push({ node, event: waiting.event, untilMs: waiting.until_ms ?? null });
  }
  return found;
}

/** Each node's steps, in the order recorded, and its state from the last one. */
export function stepsByNode(execution: Execution): Map<string, { steps: StepRecord[]; state: NodeState }> {
  const byNode = new Map<string, { steps: StepRecord[]; state: NodeState }>();
  for (const step of execution.steps) {
    const entry = byNode.get(step.node) ?? { steps: [], state: 'not-run' as NodeState };
    entry.steps.push(step);
    const kind = outcomeKind(step);
    entry.state = kind === 'emitted' ? 'succeeded' : kind === 'waiting' ? 'waiting' : kind === 'failed' ? 'failed' : entry.state;
    byNode.set(step.node, entry);
  }
  return byNode;
}
