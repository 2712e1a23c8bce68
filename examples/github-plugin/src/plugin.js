// `acme/github`: a Wirework plugin written in JavaScript and built into a
// WebAssembly component with componentize-js (see ../README.md).
//
// It implements the world `plugin` of `wirework:plugin@0.2.0` (wit/0.2.0 in
// the Wirework repository). componentize-js maps that world to this module:
//
// - the world's exports are this module's exported functions, in camelCase:
//   `describe`, `invoke`, `handleRequest` (`handle-request`);
// - records are plain objects with camelCase fields (`configSchema`,
//   `idempotencyKey`, `retryAfterMs`), enums are strings (`'action'`),
//   `option<T>` is the value or `undefined`, `list<u8>` is a `Uint8Array`,
//   `tuple<string, string>` a two-element array, `u64` a BigInt going in
//   (a Number is accepted coming out), and the variant `outcome` is
//   `{tag: 'emit', val: [...]}` or `{tag: 'wait', val: {...}}`;
// - an export returning `result<T, E>` may return `T`, or `{tag: 'ok', val}` /
//   `{tag: 'err', val}`; a thrown value with a `payload` property, or a thrown
//   non-`Error`, becomes the `err`; a thrown `Error` traps the call;
// - an import returning `result<T, string>` returns `T` or throws an `Error`
//   whose `payload` (and message) is the error string;
// - exports may be `async`: the engine runs its event loop until the promise
//   settles (that is how `crypto.subtle` is used below).
//
// The component is built with every engine feature off, so it imports no
// WASI: `console` goes nowhere (use `log`), `Date.now()` is frozen at build
// time (use `nowUnixMs`), timers trap, and there is no `fetch` (use `httpFetch`).

import { log, credential, httpFetch, nowUnixMs } from 'wirework:plugin/host@0.2.0';

const API = 'https://api.github.com';
const USER_AGENT = 'wirework-acme-github/0.1.0';
// Credential types (plugin.toml): the host sends `github-token` itself, so
// the token never enters the plugin; `github-webhook`'s secret is read to
// check signatures.
const TOKEN_CREDENTIAL = 'github-token';
const WEBHOOK_CREDENTIAL = 'github-webhook';
const UTF8 = new TextEncoder();
const UTF8_DECODE = new TextDecoder();

// ---------------------------------------------------------------------------
// describe

const CREATE_ISSUE_SCHEMA = {
  type: 'object',
  required: ['owner', 'repo'],
  properties: {
    owner: { type: 'string', description: 'Owner (user or organisation) of the repository' },
    repo: { type: 'string', description: 'Repository name' },
    title: { type: 'string', description: "Issue title; default: the item's `title`" },
    body: { type: 'string', description: "Issue body (Markdown); default: the item's `body`" },
    labels: {
      description: "Label names, as a list or comma-separated; default: the item's `labels`",
      oneOf: [{ type: 'array', items: { type: 'string' } }, { type: 'string' }],
    },
    assignees: {
      description: "Logins to assign, as a list or comma-separated; default: the item's `assignees`",
      oneOf: [{ type: 'array', items: { type: 'string' } }, { type: 'string' }],
    },
    timeout_ms: { type: 'integer', minimum: 1, description: 'Give up on GitHub after this long' },
  },
  additionalProperties: false,
};

const WEBHOOK_SCHEMA = {
  type: 'object',
  properties: {
    events: {
      type: 'array',
      items: { type: 'string' },
      description:
        'Events that start an execution: `issues`, `issues.opened` (event.action), or `*` for all but `ping`. Default `["*"]`',
    },
  },
  additionalProperties: false,
};

export function describe() {
  return {
    nodes: [
      {
        name: 'create-issue',
        title: 'GitHub: create issue',
        description: 'Opens an issue in a GitHub repository for every input item',
        kind: 'action',
        configSchema: JSON.stringify(CREATE_ISSUE_SCHEMA),
        ports: ['main'],
      },
      {
        name: 'webhook',
        title: 'GitHub: webhook',
        description: 'Starts an execution from a GitHub webhook delivery whose X-Hub-Signature-256 verifies',
        kind: 'trigger',
        configSchema: JSON.stringify(WEBHOOK_SCHEMA),
        ports: ['main'],
      },
    ],
  };
}

// ---------------------------------------------------------------------------
// errors

/** A node error on its way out: thrown inside, returned as `{tag: 'err'}` at the export. */
class NodeFailure {
  constructor(message, { code, retryable = false, retryAfterMs } = {}) {
    this.error = { message, code, retryable, retryAfterMs };
  }
}

const fatal = (message, code) => new NodeFailure(message, { code });

/** Runs an export's body; node failures and unexpected exceptions become the `err` case. */
async function guarded(body) {
  try {
    return { tag: 'ok', val: await body() };
  } catch (e) {
    if (e instanceof NodeFailure) return { tag: 'err', val: e.error };
    // A bug, not a failure of GitHub's: without this it would trap with no
    // message (the component has no stderr).
    return { tag: 'err', val: { message: `internal error: ${e?.stack || e}`, code: 'internal', retryable: false } };
  }
}

function parseConfig(node, text, allowed) {
  let config;
  try {
    config = text.trim() === '' ? {} : JSON.parse(text);
  } catch (e) {
    throw fatal(`invalid config for node \`${node}\`: ${e.message}`, 'bad_config');
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw fatal(`invalid config for node \`${node}\`: not an object`, 'bad_config');
  }
  const unknown = Object.keys(config).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw fatal(`invalid config for node \`${node}\`: unknown field(s) ${unknown.join(', ')}`, 'bad_config');
  }
  return config;
}

/** The fields of the credential of type `kind` bound to the node, by name. */
function readCredential(kind) {
  try {
    return Object.fromEntries(credential(kind));
  } catch (e) {
    throw fatal(`no \`${kind}\` credential: ${e.payload ?? e.message} (bind one to the node, and grant the type)`, 'missing_credential');
  }
}

// ---------------------------------------------------------------------------
// invoke

export function invoke(inv) {
  return guarded(() => {
    switch (inv.node) {
      case 'create-issue':
        return createIssues(inv);
      case 'webhook':
        // A trigger's items are passed on as they are.
        return { tag: 'emit', val: [{ port: 'main', items: inv.items }] };
      default:
        throw fatal(`this plugin has no node \`${inv.node}\``, 'unknown_node');
    }
  });
}

const NAME = /^[A-Za-z0-9_.-]+$/;

function createIssues(inv) {
  const config = parseConfig('create-issue', inv.config, [
    'owner', 'repo', 'title', 'body', 'labels', 'assignees', 'timeout_ms',
  ]);
  for (const field of ['owner', 'repo']) {
    const value = config[field];
    if (typeof value !== 'string' || !NAME.test(value) || value === '.' || value === '..') {
      throw fatal(`create-issue: \`${field}\` must be a GitHub name (letters, digits, -, _ and .), not ${JSON.stringify(value)}`, 'bad_config');
    }
  }
  const timeout = config.timeout_ms;
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0 && timeout < 2 ** 32)) {
    throw fatal('create-issue: `timeout_ms` must be a positive whole number of milliseconds', 'bad_config');
  }
  const items = inv.items.length === 0 ? [{}] : inv.items.map(parseItem);
  // Only the non-secret field is read; the token is added by the host.
  const api = (readCredential(TOKEN_CREDENTIAL).base_url || API).replace(/\/+$/, '');
  const out = [];
  for (const item of items) {
    out.push(createIssue(config, item, api));
  }
  return { tag: 'emit', val: [{ port: 'main', items: out.map((o) => JSON.stringify(o)) }] };
}

function parseItem(text) {
  try {
    const item = JSON.parse(text);
    return item !== null && typeof item === 'object' && !Array.isArray(item) ? item : {};
  } catch (e) {
    throw fatal(`input item is not JSON: ${e.message}`, 'bad_item');
  }
}

/** A list of names from a config or item field: an array of strings (or of `{name}`) or a comma-separated string. */
function nameList(value, field) {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') {
    return value.split(',').map((s) => s.trim()).filter(Boolean);
  }
  if (Array.isArray(value)) {
    return value.map((v) => (typeof v === 'object' && v !== null ? v.name ?? v.login : v)).map(String);
  }
  throw fatal(`create-issue: \`${field}\` must be a list of names or a comma-separated string`, 'bad_config');
}

function createIssue(config, item, api) {
  const title = config.title ?? item.title;
  if (typeof title !== 'string' || title.trim() === '') {
    throw fatal('create-issue: no title: set `title` in the config or give items a `title` field', 'missing_title');
  }
  const issue = { title };
  const body = config.body ?? item.body;
  if (body !== undefined && body !== null) issue.body = typeof body === 'string' ? body : JSON.stringify(body, null, 2);
  const labels = nameList(config.labels ?? item.labels, 'labels');
  if (labels) issue.labels = labels;
  const assignees = nameList(config.assignees ?? item.assignees, 'assignees');
  if (assignees) issue.assignees = assignees;

  const { owner, repo } = config;
  const url = `${api}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/issues`;
  const response = send({
    method: 'POST',
    url,
    headers: [
      ['accept', 'application/vnd.github+json'],
      ['content-type', 'application/json'],
      ['user-agent', USER_AGENT],
      ['x-github-api-version', '2022-11-28'],
    ],
    body: UTF8.encode(JSON.stringify(issue)),
    timeoutMs: config.timeout_ms,
    credential: TOKEN_CREDENTIAL,
  });
  const answer = jsonBody(response);
  if (response.status !== 201 && response.status !== 200) {
    throw statusError(`POST /repos/${owner}/${repo}/issues`, response, answer);
  }
  log('info', `created issue ${owner}/${repo}#${answer?.number}`);
  return {
    number: answer?.number,
    id: answer?.id,
    url: answer?.html_url,
    api_url: answer?.url,
    title: answer?.title,
    state: answer?.state,
    labels: (answer?.labels ?? []).map((l) => (typeof l === 'string' ? l : l.name)),
    repository: `${owner}/${repo}`,
  };
}

/** `http-fetch`, with the host's refusals fatal and its failures (timeouts, resets) retryable. */
function send(request) {
  try {
    return httpFetch(request);
  } catch (e) {
    const message = String(e.payload ?? e.message);
    if (message.startsWith('denied')) {
      throw fatal(`${message} (grant the API's host to acme/github)`, 'http_denied');
    }
    throw new NodeFailure(`${request.method} ${request.url}: ${message}`, { code: 'http_failed', retryable: true });
  }
}

function header(headers, name) {
  const wanted = name.toLowerCase();
  for (const [k, v] of headers) {
    if (k.toLowerCase() === wanted) return v;
  }
  return undefined;
}

function jsonBody(response) {
  try {
    return JSON.parse(UTF8_DECODE.decode(response.body));
  } catch {
    return undefined;
  }
}

/** How long GitHub asked us to wait: `Retry-After` (seconds or an HTTP date), else an exhausted rate limit's reset time. */
function retryAfterMs(headers) {
  const now = Number(nowUnixMs());
  const retryAfter = header(headers, 'retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const reset = header(headers, 'x-ratelimit-reset');
  if (header(headers, 'x-ratelimit-remaining') === '0' && reset && /^\d+$/.test(reset)) {
    return Math.max(0, Number(reset) * 1000 - now);
  }
  return undefined;
}

const STATUS_CODES = { 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 410: 'gone', 422: 'validation_failed', 429: 'rate_limited' };

function statusError(what, response, answer) {
  const { status, headers } = response;
  let detail = typeof answer?.message === 'string' ? answer.message : UTF8_DECODE.decode(response.body).slice(0, 200);
  if (Array.isArray(answer?.errors) && answer.errors.length > 0) {
    detail += ': ' + answer.errors.map((e) => (typeof e === 'string' ? e : e.message ?? `${e.field} ${e.code}`)).join('; ');
  }
  const hint = {
    401: ` (check the bound ${TOKEN_CREDENTIAL} credential)`,
    403: ` (does the ${TOKEN_CREDENTIAL} credential's token have the Issues write permission on the repository?)`,
    404: ` (no such repository, or the ${TOKEN_CREDENTIAL} credential's token cannot see it)`,
  }[status] ?? '';
  const message = `${what} answered ${status}: ${detail}${hint}`;
  const wait = retryAfterMs(headers);
  // GitHub answers 403 as well as 429 when a rate limit is exhausted; it then
  // sends Retry-After or x-ratelimit-remaining: 0.
  const rateLimited = status === 429 || (status === 403 && wait !== undefined);
  if (rateLimited || status >= 500) {
    return new NodeFailure(message, {
      code: rateLimited ? 'rate_limited' : 'http_status',
      retryable: true,
      retryAfterMs: wait,
    });
  }
  return fatal(message, STATUS_CODES[status] ?? 'http_status');
}

// ---------------------------------------------------------------------------
// handle-request: the webhook trigger

export function handleRequest(node, configText, req) {
  return guarded(async () => {
    if (node !== 'webhook') {
      throw fatal(`node \`${node}\` is not an HTTP trigger`, 'unknown_node');
    }
    const config = parseConfig('webhook', configText, ['events']);
    const events = config.events ?? ['*'];
    if (!Array.isArray(events) || !events.every((e) => typeof e === 'string')) {
      throw fatal('webhook: `events` must be a list of event names', 'bad_config');
    }
    if (req.method.toUpperCase() !== 'POST') {
      return answer(405, { error: `method ${req.method} not allowed: POST` }, [['allow', 'POST']]);
    }
    const key = readCredential(WEBHOOK_CREDENTIAL).secret;
    if (!(await signatureMatches(key, req.body, header(req.headers, 'x-hub-signature-256')))) {
      return answer(401, { error: 'X-Hub-Signature-256 is missing or does not match the body' });
    }
    const event = header(req.headers, 'x-github-event') ?? '';
    const delivery = header(req.headers, 'x-github-delivery') ?? null;
    let payload;
    try {
      payload = parsePayload(req);
    } catch (e) {
      return answer(400, { error: `body is not a GitHub payload: ${e.message}` });
    }
    const action = typeof payload?.action === 'string' ? payload.action : null;
    if (!wanted(events, event, action)) {
      return answer(202, { status: 'ignored', event, action });
    }
    // No response of our own: the server answers 202 with the execution's id.
    return { items: [JSON.stringify({ event, action, delivery, payload })], response: undefined };
  });
}

function answer(status, json, extraHeaders = []) {
  return {
    items: [],
    response: {
      status,
      headers: [['content-type', 'application/json'], ...extraHeaders],
      body: UTF8.encode(JSON.stringify(json)),
    },
  };
}

function wanted(events, event, action) {
  return events.some(
    (e) => (e === '*' && event !== 'ping') || e === event || (action !== null && e === `${event}.${action}`),
  );
}

/** GitHub sends JSON, or a form with the JSON in its `payload` field when the hook says `application/x-www-form-urlencoded`. */
function parsePayload(req) {
  const text = UTF8_DECODE.decode(req.body);
  const type = (header(req.headers, 'content-type') ?? '').toLowerCase();
  if (type.startsWith('application/x-www-form-urlencoded')) {
    const form = new URLSearchParams(text).get('payload');
    if (form === null) throw new Error('form has no `payload` field');
    return JSON.parse(form);
  }
  return JSON.parse(text);
}

/** Whether `signature` is `sha256=` and the hex HMAC-SHA256 of `body` under `key`, compared in constant time. */
async function signatureMatches(key, body, signature) {
  if (typeof signature !== 'string' || !/^sha256=[0-9a-fA-F]{64}$/.test(signature.trim())) return false;
  const given = hexBytes(signature.trim().slice(7));
  const hmacKey = await crypto.subtle.importKey('raw', UTF8.encode(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const expected = new Uint8Array(await crypto.subtle.sign('HMAC', hmacKey, body));
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected[i] ^ given[i];
  return diff === 0;
}

function hexBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
