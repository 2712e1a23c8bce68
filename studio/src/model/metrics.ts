// What the dashboard computes: samples read from the server's `/metrics`
// (OpenMetrics text), and figures over a list of executions.
import type { ExecutionSummary } from '../api/types';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of an OpenMetrics/Prometheus text exposition (comments skipped). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, '$1');
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The values of counter `name` by the value of `label`, largest first. */
export function byLabel(samples: Sample[], name: string, label: string): [string, number][] {
  const totals = new Map<string, number>();
  for (const s of samples) {
    const key = s.labels[label];
    if (s.name === name && key !== undefined) totals.set(key, (totals.get(key) ?? 0) + s.value);
  }
  return [...totals].sort((a, b) => b[1] - a[1]);
}

/** Executions started in each of the last `minutes` minutes before `nowMs`, oldest first, and how many of them failed. */
export function perMinute(executions: ExecutionSummary[], nowMs: number, minutes: number): { total: number; failed: number }[] {
  const buckets = Array.from({ length: minutes }, () => ({ total: 0, failed: 0 }));
  const start = nowMs - minutes * 60_000;
  for (const e of executions) {
    if (e.created_ms < start || e.created_ms > nowMs) continue;
    const bucket = buckets[Math.min(minutes - 1, Math.floor((e.created_ms - start) / 60_000))]!;
    bucket.total += 1;
    if (e.status === 'failed') bucket.failed += 1;
  }
  return buckets;
}

/** The `p`th percentile (0..1) of `values` (nearest rank), or null for none. */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** Succeeded and failed shares of the finished executions, and the durations of the finished ones. */
export function outcomes(executions: ExecutionSummary[]) {
  const finished = executions.filter((e) => e.finished_ms !== null && e.finished_ms !== undefined);
  const succeeded = finished.filter((e) => e.status === 'succeeded').length;
  const failed = finished.filter((e) => e.status === 'failed').length;
  const durations = finished.map((e) => (e.finished_ms ?? e.created_ms) - e.created_ms);
  return {
    finished: finished.length,
    successRate: finished.length ? succeeded / finished.length : null,
    failureRate: finished.length ? failed / finished.length : null,
    p50: percentile(durations, 0.5),
    p99: percentile(durations, 0.99),
  };
}
