// The dashboard: executions per minute over the last hour (failures marked),
// success and failure rates, p50/p99 duration, and fuel per workflow and per
// plugin from the server's own metrics. Charts are plain SVG. It refreshes
// when the server pushes a status change, at most every few seconds.
import { useEffect, useState } from 'react';
import { api } from '../api/client';
import { byLabel, outcomes, parseMetrics, perMinute } from '../model/metrics';

const MINUTES = 60;
const REFRESH_MS = 5000;

interface Figures {
  minutes: { total: number; failed: number }[];
  outcome: ReturnType<typeof outcomes>;
  fuelByWorkflow: [string, number][];
  fuelByPlugin: [string, number][];
}

async function load(): Promise<Figures> {
  const now = Date.now();
  const [executions, text] = await Promise.all([
    api.executions({ sinceMs: now - MINUTES * 60_000, limit: 10_000 }),
    fetch('/metrics', { credentials: 'same-origin' }).then((r) => r.text()),
  ]);
  const samples = parseMetrics(text);
  return {
    minutes: perMinute(executions, now, MINUTES),
    outcome: outcomes(executions),
    fuelByWorkflow: byLabel(samples, 'wirework_workflow_fuel_consumed_total', 'workflow'),
    fuelByPlugin: byLabel(samples, 'wirework_fuel_consumed_total', 'plugin'),
  };
}

function PerMinute({ minutes }: { minutes: Figures['minutes'] }) {
  const width = 600;
  const height = 140;
  const max = Math.max(1, ...minutes.map((m) => m.total));
  const bar = width / minutes.length;
  const total = minutes.reduce((n, m) => n + m.total, 0);
  return (
    <figure>
      <svg role="img" aria-label={`Executions per minute, last hour: ${total} in all`} viewBox={`0 0 ${width} ${height}`} className="chart">
        {minutes.map((m, i) => {
          const h = (m.total / max) * (height - 10);
          const f = (m.failed / max) * (height - 10);
          return (
            <g key={i}>
              <title>
                {MINUTES - i} min ago: {m.total} started, {m.failed} failed
              </title>
              <rect x={i * bar + 1} y={height - h} width={bar - 2} height={h} className="bar" />
              {m.failed > 0 && <rect x={i * bar + 1} y={height - f} width={bar - 2} height={f} className="bar failed" />}
            </g>
          );
        })}
      </svg>
      <figcaption>Executions started per minute over the last hour (failed ones in red)</figcaption>
    </figure>
  );
}

function Bars({ title, rows }: { title: string; rows: [string, number][] }) {
  const max = Math.max(1, ...rows.map(([, v]) => v));
  const height = 24 * Math.max(1, rows.length);
  return (
    <figure>
      <svg role="img" aria-label={title} viewBox={`0 0 600 ${height}`} className="chart">
        {rows.map(([label, value], i) => (
          <g key={label}>
            <title>
              {label}: {value.toLocaleString()} fuel
            </title>
            <rect x={220} y={i * 24 + 4} width={(value / max) * 370} height={16} className="bar" />
            <text x={214} y={i * 24 + 17} textAnchor="end" className="label">
              {label}
            </text>
          </g>
        ))}
      </svg>
      <figcaption>{title}</figcaption>
    </figure>
  );
}

function percent(rate: number | null): string {
  return rate === null ? '–' : `${(rate * 100).toFixed(1)} %`;
}

export default function Dashboard() {
  const [figures, setFigures] = useState<Figures | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    let live = true;
    load().then(
      (f) => live && setFigures(f),
      (e: unknown) => live && setError(String(e)),
    );
    return () => {
      live = false;
    };
  }, [reloads]);

  useEffect(() => {
    let pending: ReturnType<typeof setTimeout> | null = null;
    const later = () => {
      pending ??= setTimeout(() => {
        pending = null;
        setReloads((n) => n + 1);
      }, REFRESH_MS);
    };
    const stop = api.followExecutions(later, later);
    return () => {
      stop();
      if (pending) clearTimeout(pending);
    };
  }, []);

  return (
    <section aria-labelledby="dashboard-title" className="dashboard">
      <h1 id="dashboard-title">Dashboard</h1>
      {error && <p role="alert">Could not load the figures: {error}</p>}
      {figures && (
        <>
          <dl className="tiles">
            <div>
              <dt>Finished (last hour)</dt>
              <dd>{figures.outcome.finished}</dd>
            </div>
            <div>
              <dt>Succeeded</dt>
              <dd>{percent(figures.outcome.successRate)}</dd>
            </div>
            <div>
              <dt>Failed</dt>
              <dd>{percent(figures.outcome.failureRate)}</dd>
            </div>
            <div>
              <dt>Duration p50</dt>
              <dd>{figures.outcome.p50 === null ? '–' : `${figures.outcome.p50} ms`}</dd>
            </div>
            <div>
              <dt>Duration p99</dt>
              <dd>{figures.outcome.p99 === null ? '–' : `${figures.outcome.p99} ms`}</dd>
            </div>
          </dl>
          <PerMinute minutes={figures.minutes} />
          <Bars title="Fuel per workflow (since the server started)" rows={figures.fuelByWorkflow} />
          <Bars title="Fuel per plugin (since the server started)" rows={figures.fuelByPlugin} />
        </>
      )}
    </section>
  );
}
