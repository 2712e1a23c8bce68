import { describe, expect, it } from 'vitest';
import type { ExecutionSummary } from '../api/types';
import { byLabel, outcomes, parseMetrics, percentile, perMinute } from './metrics';

const TEXT = `# HELP wirework_fuel_consumed Fuel consumed by node calls, by plugin.
# TYPE wirework_fuel_consumed counter
wirework_fuel_consumed_total{plugin="wirework/core@0.1.4"} 1200
wirework_fuel_consumed_total{plugin="wirework/http@0.1.3"} 300
wirework_workflow_fuel_consumed_total{workflow="lead-intake"} 1500
wirework_executions_started_total 7
# EOF
`;

const execution = (created: number, finished: number | null, status: ExecutionSummary['status']): ExecutionSummary => ({
  id: `${created}`,
  workflow_id: 'w',
  workflow_version: 1,
  status,
  created_ms: created,
  finished_ms: finished,
  error: null,
});

describe('dashboard figures', () => {
  it('reads counters from the exposition', () => {
    const samples = parseMetrics(TEXT);
    expect(byLabel(samples, 'wirework_fuel_consumed_total', 'plugin')).toEqual([
      ['wirework/core@0.1.4', 1200],
      ['wirework/http@0.1.3', 300],
    ]);
    expect(byLabel(samples, 'wirework_workflow_fuel_consumed_total', 'workflow')).toEqual([['lead-intake', 1500]]);
    expect(samples.find((s) => s.name === 'wirework_executions_started_total')?.value).toBe(7);
  });

  it('counts executions per minute and their outcomes', () => {
    const now = 10 * 60_000;
    const list = [execution(now - 30_000, now - 29_000, 'succeeded'), execution(now - 90_000, now - 80_000, 'failed'), execution(now - 20 * 60_000, null, 'running')];
    const minutes = perMinute(list, now, 5);
    expect(minutes.map((m) => m.total)).toEqual([0, 0, 0, 1, 1]);
    expect(minutes[3]?.failed).toBe(1);
    const figures = outcomes(list);
    expect(figures.finished).toBe(2);
    expect(figures.successRate).toBe(0.5);
    expect(figures.p50).toBe(1000);
    expect(figures.p99).toBe(10_000);
    expect(percentile([], 0.5)).toBeNull();
  });
});
