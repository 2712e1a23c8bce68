// Runs the built component (dist/acme-github.wasm, made by `npm run build`)
// in Node: jco transpiles it to JS plus core wasm, so this is the same
// StarlingMonkey engine and bindings the Wirework host runs, with the host's
// imports played by this file. `http-fetch` goes to a fake api.github.com on
// loopback (./fake-github.js).

import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, mkdir, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transpile } from '@bytecodealliance/jco';
import { startFakeGithub } from './fake-github.js';

const here = dirname(fileURLToPath(import.meta.url));
const COMPONENT = join(here, '..', 'dist', 'acme-github.wasm');
const HOOK_SECRET = "It's a Secret to Everybody";

let plugin, github, outDir;
/** What the host binds to this call (credentials by type, as field pairs); reset before every test. */
let credentials, logs, fetchOverride;

before(async () => {
  github = await startFakeGithub();
  const component = await readFile(COMPONENT).catch(() => {
    throw new Error(`${COMPONENT} is missing: run \`npm run build\` first (npm test does)`);
  });
  const { files } = await transpile(component, { name: 'plugin', instantiation: 'async', noTypescript: true, quiet: true });
  outDir = await mkdtemp(join(tmpdir(), 'acme-github-'));
  for (const [name, bytes] of Object.entries(files)) {
    await mkdir(dirname(join(outDir, name)), { recursive: true });
    await writeFile(join(outDir, name), bytes);
  }
  const { instantiate } = await import(pathToFileURL(join(outDir, 'plugin.js')));
  const host = {
    log: (level, message) => logs.push([level, message]),
    secret: (name) => {
      throw `denied: secret ${name} is not granted`; // a thrown non-Error is the \`err\` case
    },
    credential: (kind) => {
      if (!(kind in credentials)) throw `no credential of type \`${kind}\` is bound to this node`;
      return Object.entries(credentials[kind]);
    },
    kvGet: () => undefined,
    kvSet: () => {},
    nowUnixMs: () => BigInt(Date.now()),
    httpFetch: (request) => {
      if (fetchOverride) return fetchOverride(request);
      // As the host does: a request naming `github-token` gets its bearer (plugin.toml's auth).
      if (request.credential === 'github-token') {
        const token = credentials['github-token']?.token;
        if (token === undefined) throw 'no credential of type `github-token` is bound to this node';
        request = { ...request, headers: [...request.headers, ['authorization', `Bearer ${token}`]] };
      }
      const url = new URL(request.url);
      if (url.host !== 'api.github.com') throw `denied: ${url.host} is not granted`;
      const answer = github.fetch({ ...request, url: github.origin + url.pathname + url.search });
      if (answer.err) throw answer.err;
      return answer.ok;
    },
  };
  plugin = await instantiate(
    async (path) => WebAssembly.compile(await readFile(join(outDir, path))),
    // jco's generated code looks imports up without the version.
    { 'wirework:plugin/host': host, 'wirework:plugin/types': {} },
  );
});

after(async () => {
  await github?.stop();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

beforeEach(() => {
  credentials = { 'github-token': { token: 'test-token' }, 'github-webhook': { secret: HOOK_SECRET } };
  logs = [];
  fetchOverride = undefined;
  github.requests();
});

/** Calls an export that returns `result`: jco returns `ok` and throws `err` as an error with `payload`. */
function call(fn) {
  try {
    return { ok: fn() };
  } catch (e) {
    if (e && 'payload' in e) return { err: e.payload };
    throw e;
  }
}

function invocation(node, config, items = []) {
  return {
    node,
    config: JSON.stringify(config),
    items: items.map((i) => JSON.stringify(i)),
    executionId: 'exec-1',
    attempt: 1,
    idempotencyKey: 'exec-1:2',
    resumeState: undefined,
  };
}

const createIssue = (config, items) => call(() => plugin.invoke(invocation('create-issue', config, items)));

function emitted(result) {
  assert.ok(result.ok, `expected ok, got ${JSON.stringify(result.err)}`);
  assert.equal(result.ok.tag, 'emit');
  return result.ok.val.map(({ port, items }) => ({ port, items: items.map((i) => JSON.parse(i)) }));
}

// --- describe ---------------------------------------------------------------

test('describe lists create-issue (action) and webhook (trigger)', () => {
  const { nodes } = plugin.describe();
  assert.deepEqual(
    nodes.map((n) => [n.name, n.kind, n.ports]),
    [['create-issue', 'action', ['main']], ['webhook', 'trigger', ['main']]],
  );
  for (const node of nodes) {
    const schema = JSON.parse(node.configSchema);
    assert.equal(schema.type, 'object');
  }
  assert.deepEqual(JSON.parse(nodes[0].configSchema).required, ['owner', 'repo']);
});

// --- create-issue -----------------------------------------------------------

test('create-issue posts the configured issue with the token and emits it', () => {
  const out = emitted(
    createIssue({ owner: 'acme', repo: 'widgets', title: 'Order 42 failed', body: 'See the log', labels: 'bug, ops' }, [
      { order: 42 },
    ]),
  );
  assert.deepEqual(out, [
    {
      port: 'main',
      items: [
        {
          number: 1,
          id: 1001,
          url: 'https://github.com/acme/widgets/issues/1',
          api_url: 'https://api.github.com/repos/acme/widgets/issues/1',
          title: 'Order 42 failed',
          state: 'open',
          labels: ['bug', 'ops'],
          repository: 'acme/widgets',
        },
      ],
    },
  ]);
  const [request] = github.requests();
  assert.equal(request.method, 'POST');
  assert.equal(request.path, '/repos/acme/widgets/issues');
  assert.equal(request.headers.authorization, 'Bearer test-token');
  assert.equal(request.headers.accept, 'application/vnd.github+json');
  assert.equal(request.headers['x-github-api-version'], '2022-11-28');
  assert.match(request.headers['user-agent'], /^wirework-acme-github\//);
  assert.deepEqual(JSON.parse(request.body), { title: 'Order 42 failed', body: 'See the log', labels: ['bug', 'ops'] });
  assert.deepEqual(logs, [['info', 'created issue acme/widgets#1']]);
});

test('create-issue takes title, body, labels and assignees from each item when the config does not set them', () => {
  const out = emitted(
    createIssue({ owner: 'acme', repo: 'widgets', labels: ['triage'] }, [
      { title: 'First', body: 'one', assignees: ['ann'] },
      { title: 'Second', labels: ['ignored: config wins'] },
    ]),
  );
  assert.deepEqual(out[0].items.map((i) => [i.title, i.labels]), [['First', ['triage']], ['Second', ['triage']]]);
  const sent = github.requests().map((r) => JSON.parse(r.body));
  assert.deepEqual(sent, [
    { title: 'First', body: 'one', labels: ['triage'], assignees: ['ann'] },
    { title: 'Second', labels: ['triage'] },
  ]);
});

test('create-issue without a title anywhere is a fatal error', () => {
  const { err } = createIssue({ owner: 'acme', repo: 'widgets' }, [{ body: 'no title' }]);
  assert.equal(err.code, 'missing_title');
  assert.equal(err.retryable, false);
  assert.deepEqual(github.requests(), []);
});

test('create-issue refuses bad config before calling GitHub', () => {
  for (const [config, pattern] of [
    [{ owner: 'acme', repo: '../../user' }, /`repo` must be a GitHub name/],
    [{ owner: 'acme' }, /`repo` must be a GitHub name/],
    [{ owner: 'acme', repo: 'w', title: 't', colour: 'red' }, /unknown field\(s\) colour/],
    [{ owner: 'acme', repo: 'w', title: 't', timeout_ms: -1 }, /timeout_ms/],
  ]) {
    const { err } = createIssue(config, []);
    assert.equal(err.code, 'bad_config', JSON.stringify(config));
    assert.match(err.message, pattern);
    assert.equal(err.retryable, false);
  }
  const { err } = call(() => plugin.invoke({ ...invocation('create-issue', {}), config: '{not json' }));
  assert.equal(err.code, 'bad_config');
  assert.deepEqual(github.requests(), []);
});

test('create-issue without a github-token credential says which is missing', () => {
  delete credentials['github-token'];
  const { err } = createIssue({ owner: 'acme', repo: 'widgets', title: 't' });
  assert.equal(err.code, 'missing_credential');
  assert.match(err.message, /github-token/);
});

test('a github-token credential with a base_url sends there (GitHub Enterprise)', () => {
  let seen;
  fetchOverride = (request) => {
    seen = request;
    return { status: 201, headers: [], body: new TextEncoder().encode('{"number": 9}') };
  };
  credentials['github-token'] = { token: 'test-token', base_url: 'https://ghe.example.com/api/v3/' };
  emitted(createIssue({ owner: 'acme', repo: 'widgets', title: 't' }));
  assert.equal(seen.url, 'https://ghe.example.com/api/v3/repos/acme/widgets/issues');
  assert.equal(seen.credential, 'github-token');
  assert.ok(!seen.headers.some(([k]) => k === 'authorization'), 'the plugin never sets the token itself');
});

test("GitHub's client errors are fatal, each with its code", () => {
  const cases = [
    ['widgets', 'wrong-token', 401, 'unauthorized', /Bad credentials \(check the bound github-token credential\)/],
    ['forbidden', 'test-token', 403, 'forbidden', /Resource not accessible/],
    ['missing', 'test-token', 404, 'not_found', /no such repository/],
    ['invalid', 'test-token', 422, 'validation_failed', /Validation Failed: assignees invalid/],
  ];
  for (const [repo, token, status, code, pattern] of cases) {
    credentials['github-token'] = { token };
    const { err } = createIssue({ owner: 'acme', repo, title: 't' });
    assert.equal(err.code, code, `${status}`);
    assert.equal(err.retryable, false, `${status}`);
    assert.equal(err.retryAfterMs, undefined, `${status}`);
    assert.match(err.message, new RegExp(`answered ${status}`));
    assert.match(err.message, pattern);
  }
});

test('429 and 5xx are retryable, with the wait GitHub asked for', () => {
  let { err } = createIssue({ owner: 'acme', repo: 'busy', title: 't' });
  assert.deepEqual([err.code, err.retryable, err.retryAfterMs], ['rate_limited', true, 7000n]);

  ({ err } = createIssue({ owner: 'acme', repo: 'down', title: 't' }));
  assert.deepEqual([err.code, err.retryable], ['http_status', true]);
  // An HTTP date has whole seconds: 120 s ahead, give or take one.
  assert.ok(err.retryAfterMs > 118_000n && err.retryAfterMs <= 120_000n, `${err.retryAfterMs}`);

  ({ err } = createIssue({ owner: 'acme', repo: 'flaky', title: 't' }));
  assert.deepEqual([err.code, err.retryable, err.retryAfterMs], ['http_status', true, undefined]);

  // A 403 that is an exhausted rate limit waits for the reset.
  ({ err } = createIssue({ owner: 'acme', repo: 'limited', title: 't' }));
  assert.deepEqual([err.code, err.retryable], ['rate_limited', true]);
  assert.ok(err.retryAfterMs > 58_000n && err.retryAfterMs <= 60_000n, `${err.retryAfterMs}`);
});

test("the host's refusal is fatal and its transport failures retryable", () => {
  fetchOverride = () => {
    throw 'denied: api.github.com is not granted';
  };
  let { err } = createIssue({ owner: 'acme', repo: 'widgets', title: 't' });
  assert.deepEqual([err.code, err.retryable], ['http_denied', false]);

  fetchOverride = () => {
    throw 'connection reset';
  };
  ({ err } = createIssue({ owner: 'acme', repo: 'widgets', title: 't' }));
  assert.deepEqual([err.code, err.retryable], ['http_failed', true]);
  assert.match(err.message, /POST https:\/\/api.github.com\/repos\/acme\/widgets\/issues: connection reset/);
});

test('create-issue passes timeout_ms to the host', () => {
  let seen;
  fetchOverride = (request) => {
    seen = request;
    return { status: 201, headers: [], body: new TextEncoder().encode('{"number": 7}') };
  };
  emitted(createIssue({ owner: 'acme', repo: 'widgets', title: 't', timeout_ms: 2500 }));
  assert.equal(seen.timeoutMs, 2500);
  assert.equal(seen.credential, 'github-token');
});

test('an unknown node is a fatal error', () => {
  const { err } = call(() => plugin.invoke(invocation('delete-repo', {})));
  assert.equal(err.code, 'unknown_node');
});

// --- webhook ----------------------------------------------------------------

function delivery({ event = 'issues', payload = { action: 'opened', issue: { number: 5 } }, secret = HOOK_SECRET, signature, contentType = 'application/json', body, method = 'POST' } = {}) {
  const raw = Buffer.from(body ?? JSON.stringify(payload));
  const headers = [
    ['content-type', contentType],
    ['X-GitHub-Event', event],
    ['X-GitHub-Delivery', '72d3162e-cc78-11e3-81ab-4c9367dc0958'],
  ];
  const sig = signature === undefined ? 'sha256=' + createHmac('sha256', secret).update(raw).digest('hex') : signature;
  if (sig !== null) headers.push(['X-Hub-Signature-256', sig]);
  return { method, url: 'https://hooks.example.com/hooks/gh/events', path: 'events', query: '', headers, body: new Uint8Array(raw) };
}

const hook = (req, config = {}) => call(() => plugin.handleRequest('webhook', JSON.stringify(config), req));

function responseOf(result) {
  assert.ok(result.ok, JSON.stringify(result.err));
  const { status, headers, body } = result.ok.response;
  return { status, headers, body: JSON.parse(new TextDecoder().decode(body)), items: result.ok.items };
}

test("GitHub's documented example signature verifies", () => {
  // docs.github.com, "Validating webhook deliveries": secret and payload below give this signature.
  const req = delivery({
    body: 'Hello, World!',
    contentType: 'text/plain',
    signature: 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
  });
  const { ok } = hook(req, { events: ['*'] });
  // Verified, so it got as far as parsing the body (which is not JSON).
  assert.equal(ok.response.status, 400);
});

test('a signed delivery of a wanted event starts an execution with the payload', () => {
  const { ok } = hook(delivery(), { events: ['issues'] });
  assert.equal(ok.response, undefined, 'the server answers 202 with the execution id');
  assert.deepEqual(ok.items.map((i) => JSON.parse(i)), [
    {
      event: 'issues',
      action: 'opened',
      delivery: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
      payload: { action: 'opened', issue: { number: 5 } },
    },
  ]);
});

test('a bad, missing or malformed signature is answered 401 and starts nothing', () => {
  const forged = delivery({ secret: 'not the secret' });
  const missing = delivery({ signature: null });
  const good = delivery();
  const flipped = good.headers.find(([k]) => k === 'X-Hub-Signature-256')[1].replace(/.$/, (c) => (c === '0' ? '1' : '0'));
  const cases = [
    forged,
    missing,
    delivery({ signature: 'sha1=' + 'a'.repeat(40) }),
    delivery({ signature: 'sha256=abc' }),
    delivery({ signature: flipped }),
    { ...good, body: new TextEncoder().encode('{"action":"opened","issue":{"number":6}}') },
  ];
  for (const [i, req] of cases.entries()) {
    const result = hook(req);
    assert.ok(result.ok?.response, `case ${i} was accepted: ${JSON.stringify(result)}`);
    const r = responseOf(result);
    assert.equal(r.status, 401);
    assert.deepEqual(r.items, []);
    assert.match(r.body.error, /X-Hub-Signature-256/);
  }
});

test('events not configured are answered 202 and start nothing', () => {
  let r = responseOf(hook(delivery({ event: 'push', payload: { ref: 'refs/heads/main' } }), { events: ['issues'] }));
  assert.deepEqual([r.status, r.body, r.items], [202, { status: 'ignored', event: 'push', action: null }, []]);

  // `event.action` narrows to one action.
  r = responseOf(hook(delivery({ payload: { action: 'closed' } }), { events: ['issues.opened'] }));
  assert.deepEqual([r.status, r.body.status], [202, 'ignored']);
  assert.equal(hook(delivery(), { events: ['issues.opened'] }).ok.items.length, 1);

  // `*` (the default) takes everything but GitHub's ping.
  r = responseOf(hook(delivery({ event: 'ping', payload: { zen: 'Keep it logically awesome.' } })));
  assert.deepEqual([r.status, r.body.status], [202, 'ignored']);
  assert.equal(hook(delivery({ event: 'ping', payload: {} }), { events: ['ping'] }).ok.items.length, 1);
  assert.equal(hook(delivery({ event: 'star', payload: { action: 'created' } })).ok.items.length, 1);
});

test('a form-encoded delivery carries its JSON in the payload field', () => {
  const payload = { action: 'opened', issue: { number: 9, title: 'a & b' } };
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const { ok } = hook(delivery({ body, contentType: 'application/x-www-form-urlencoded' }));
  assert.deepEqual(JSON.parse(ok.items[0]).payload, payload);
});

test('a signed body that is not JSON is answered 400', () => {
  const r = responseOf(hook(delivery({ body: 'not json' })));
  assert.equal(r.status, 400);
});

test('only POST is accepted', () => {
  const r = responseOf(hook(delivery({ method: 'GET' })));
  assert.equal(r.status, 405);
  assert.deepEqual(r.headers, [['content-type', 'application/json'], ['allow', 'POST']]);
});

test('a webhook without a github-webhook credential fails instead of accepting unsigned deliveries', () => {
  delete credentials['github-webhook'];
  const { err } = hook(delivery());
  assert.deepEqual([err.code, err.retryable], ['missing_credential', false]);
  assert.match(err.message, /github-webhook/);
});

test('webhook config is checked', () => {
  const { err } = hook(delivery(), { events: 'issues' });
  assert.equal(err.code, 'bad_config');
});

test('the webhook node passes its items on when invoked', () => {
  const items = [{ event: 'issues', payload: { n: 1 } }];
  assert.deepEqual(emitted(call(() => plugin.invoke(invocation('webhook', {}, items)))), [{ port: 'main', items }]);
});
