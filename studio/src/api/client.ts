// The studio's one way to the server: `/api/v1` on the same origin, signed
// in by the session cookie (HttpOnly: this code never sees a token after
// sign-in). Requests carry `X-Wirework-Studio: 1`, which the server asks of
// cookie-authenticated requests that change anything.
import type {
  Deployed,
  Execution,
  ExecutionChange,
  Credential,
  Deletion,
  Plugin,
  PluginPreview,
  RegistryInstalledPlugin,
  TestRun,
  Upgrades,
  ExecutionStatus,
  ExecutionSummary,
  Problem,
  Workflow,
  WorkflowHead,
  WorkflowDefinition,
  WorkflowVersion,
} from './types';
import type { Pins } from '../model/testrun';

/** An answer that is not a success: its status, the server's message and the problems it listed. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly problems: Problem[] = [],
  ) {
    super(message);
  }
}

/** A body sent as it is, with its content type (a YAML definition). */
interface Raw {
  text: string;
  contentType: string;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { 'x-wirework-studio': '1', accept: 'application/json' };
  const raw = body instanceof Object && 'contentType' in body ? (body as Raw) : undefined;
  if (body !== undefined) headers['content-type'] = raw ? raw.contentType : 'application/json';
  const response = await fetch(`/api/v1${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : raw ? raw.text : JSON.stringify(body),
  });
  const text = await response.text();
  const parsed: unknown = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = (parsed ?? {}) as { error?: string; problems?: Problem[] };
    throw new ApiError(response.status, error.error ?? `HTTP ${response.status}`, error.problems ?? []);
  }
  return parsed as T;
}

export const api = {
  /** The signed-in token's name, or null. */
  session: () => call<{ token: string | null }>('GET', '/session').then((s) => s.token),
  signIn: (token: string) => call<{ token: string }>('POST', '/session', { token }).then((s) => s.token),
  signOut: () => call<null>('DELETE', '/session'),
  workflows: () => call<WorkflowHead[]>('GET', '/workflows'),
  workflow: (id: string) => call<Workflow>('GET', `/workflows/${encodeURIComponent(id)}`),
  /** Delete a workflow with its versions, finished executions and test runs (409 while one of its executions runs or waits). */
  deleteWorkflow: (id: string) => call<Deletion>('DELETE', `/workflows/${encodeURIComponent(id)}`),
  /** Run a draft once without deploying it; answers once it stops running (at most 30 s). */
  testRun: (workflow: WorkflowDefinition, items: Record<string, unknown>[], pinned: Pins) =>
    call<TestRun>('POST', '/test-runs', { workflow, items, pinned, wait: true }),
  plugins: () => call<Plugin[]>('GET', '/plugins'),
  /** What installing `plugin` (`publisher/name@range`) from `registry` would request; installs nothing. */
  previewInstall: (plugin: string, registry: string, trustOnFirstUse: boolean) =>
    call<PluginPreview>('POST', '/plugins/install/preview', { plugin, registry, trust_on_first_use: trustOnFirstUse }),
  /** Install from a registry with these grants (`http=HOST`, `kv`, `credential=TYPE`, `event=PATTERN`, or `none`). */
  install: (plugin: string, registry: string, grants: string[], trustOnFirstUse: boolean) =>
    call<RegistryInstalledPlugin>('POST', '/plugins/install', { plugin, registry, grants, trust_on_first_use: trustOnFirstUse }),
  /** Upgrade plugins within their locked ranges, each from its registry. */
  upgrade: (plugins: string[]) => call<Upgrades>('POST', '/plugins/upgrade', { plugins }),
  /** The server's metrics, as OpenMetrics text. */
  metrics: () => fetch('/metrics', { credentials: 'same-origin' }).then((r) => r.text()),
  removePlugin: (name: string, version: string) => call<unknown>('DELETE', `/plugins/${name}/${encodeURIComponent(version)}`),
  credentials: () => call<Credential[]>('GET', '/credentials'),
  /** The next times a schedule fires, or an ApiError saying why the cron is refused. */
  schedulePreview: (cron: string, timezone?: string) => {
    const params = new URLSearchParams({ cron });
    if (timezone) params.set('timezone', timezone);
    return call<{ next: { at_ms: number; local: string }[] }>('GET', `/schedule-preview?${params}`);
  },
  /** Create or replace a credential: a typed one (`publisher/plugin:type` and fields) or a plain value. Write-only. */
  setCredential: (name: string, body: { type: string; fields: Record<string, string> } | { value: string }) =>
    call<null>('PUT', `/credentials/${encodeURIComponent(name)}`, body),
  deleteCredential: (name: string) => call<null>('DELETE', `/credentials/${encodeURIComponent(name)}`),
  versions: (id: string) => call<WorkflowVersion[]>('GET', `/workflows/${encodeURIComponent(id)}/versions`),
  /** Deploy a definition (YAML or JSON text): a new version, made current. */
  deploy: (text: string) => call<Deployed>('POST', '/workflows', { text, contentType: 'application/yaml' }),
  rollback: (id: string, version: number) =>
    call<WorkflowHead>('POST', `/workflows/${encodeURIComponent(id)}/rollback`, { version }),
  setActive: (id: string, active: boolean) =>
    call<WorkflowHead>('POST', `/workflows/${encodeURIComponent(id)}/${active ? 'activate' : 'deactivate'}`),
  executions: (query: ExecutionQuery = {}) => {
    const params = new URLSearchParams();
    if (query.workflow) params.set('workflow', query.workflow);
    if (query.status) params.set('status', query.status);
    if (query.sinceMs !== undefined) params.set('since_ms', String(query.sinceMs));
    if (query.limit) params.set('limit', String(query.limit));
    const suffix = params.size ? `?${params}` : '';
    return call<ExecutionSummary[]>('GET', `/executions${suffix}`);
  },
  execution: (id: string) => call<Execution>('GET', `/executions/${encodeURIComponent(id)}`),
  retry: (id: string, mode: 'from_failed' | 'from_start' = 'from_failed') =>
    call<{ execution_id: string }>('POST', `/executions/${encodeURIComponent(id)}/retry`, { mode }),
  /** Emit an event: the waits on exactly its name end, and listening workflows start. */
  emit: (name: string, payload: Record<string, unknown>) =>
    call<{ resumed: number; started: string[] }>('POST', '/events', { name, payload }),
  cancel: (id: string) => call<unknown>('POST', `/executions/${encodeURIComponent(id)}/cancel`),
  /**
   * Follow execution status changes as the server pushes them (server-sent
   * events, one connection; the browser reconnects by itself). `onOpen` is
   * told each time the stream is (re)connected: what is read after that
   * misses no change. Returns the function that stops following.
   */
  followExecutions: (onChange: (change: ExecutionChange) => void, onLagged: () => void, onOpen?: () => void): (() => void) => {
    const source = new EventSource('/api/v1/executions/events');
    source.addEventListener('execution', (e) => onChange(JSON.parse((e as MessageEvent<string>).data) as ExecutionChange));
    source.addEventListener('lagged', onLagged);
    // Also after a reconnection, when changes may have been missed.
    if (onOpen) source.addEventListener('open', onOpen);
    return () => source.close();
  },
};

/** Filters of the execution list. */
export interface ExecutionQuery {
  workflow?: string;
  status?: ExecutionStatus;
  sinceMs?: number;
  limit?: number;
}
