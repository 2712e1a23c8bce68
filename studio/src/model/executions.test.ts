import { describe, expect, it } from 'vitest';
import type { Execution, ExecutionChange, ExecutionSummary } from '../api/types';
import { applyChange, awaitedEvents, failure, stepsByNode } from './executions';

const change = (id: string, status: ExecutionChange['status'], workflow = 'lead-intake'): ExecutionChange => ({
  id,
  workflow_id: workflow,
  workflow_version: 1,
  status,
  created_ms: 1000,
  finished_ms: status === 'running' ? null : 2000,
});

describe('the live execution list', () => {
  it('puts a new execution first and updates it in place', () => {
    let list: ExecutionSummary[] = [];
    list = applyChange(list, change('a', 'running'), {}, 50);
    list = applyChange(list, change('b', 'running'), {}, 50);
    list = applyChange(list, change('a', 'succeeded'), {}, 50);
    expect(list.map((e) => [e.id, e.status])).toEqual([
      ['b', 'running'],
      ['a', 'succeeded'],
    ]);
    expect(list[1]?.finished_ms).toBe(2000);
  });

  it('keeps to its filters and its length', () => {
    let list: ExecutionSummary[] = [];
    list = applyChange(list, change('x', 'running', 'other'), { workflow: 'lead-intake' }, 50);
    expect(list).toEqual([]);
    list = applyChange(list, change('f', 'running'), { status: 'running' }, 50);
    list = applyChange(list, change('f', 'failed'), { status: 'running' }, 50);
    expect(list).toEqual([]);
    for (const id of ['1', '2', '3']) list = applyChange(list, change(id, 'running'), {}, 2);
    expect(list.map((e) => e.id)).toEqual(['3', '2']);
  });
});

describe('steps by node', () => {
  it("groups steps and takes each node's state from its last step", () => {
    const execution = {
      steps: [
        { step: 0, node: 'form', plugin: 'p', attempt: 1, outcome: { emitted: { ports: [['main', [{}]]] } } },
        { step: 1, node: 'send', plugin: 'p', attempt: 1, outcome: { failed: { failure: { message: 'HTTP 503', code: 'http_503' } } } },
        { step: 2, node: 'send', plugin: 'p', attempt: 2, outcome: { emitted: { ports: [] } } },
        { step: 3, node: 'wait', plugin: 'p', attempt: 1, outcome: { waiting: { event: 'x' } } },
      ],
    } as unknown as Execution;
    const nodes = stepsByNode(execution);
    expect(nodes.get('send')?.steps).toHaveLength(2);
    expect(nodes.get('send')?.state).toBe('succeeded');
    expect(nodes.get('wait')?.state).toBe('waiting');
    expect(failure(execution.steps[1]!)).toBe('HTTP 503 (http_503)');
    expect(awaitedEvents({ ...execution, status: 'waiting' })).toEqual([{ node: 'wait', event: 'x', untilMs: null }]);
    expect(awaitedEvents({ ...execution, status: 'succeeded' })).toEqual([]);
    const calling = { ...execution, status: 'waiting', steps: [{ step: 1, node: 'enrich', plugin: 'workflow:e@1.0.0', attempt: 1, outcome: { waiting: { event: 'wirework.call:01a2' } } }] } as unknown as Execution;
    expect(awaitedEvents(calling)).toEqual([]);
  });
});
