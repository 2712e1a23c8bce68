// Playwright's global setup: a real `wirework serve` for the browser tests,
// on a free loopback port, in a fresh data directory with wirework/core and
// wirework/http built from source by `wirework plugin build`, the built studio
// (studio/dist) served at /, examples/workflows/lead-intake.yaml deployed, and
// `flaky`, a workflow whose one node always fails, and `approvals`, which
// waits for an event. A local registry (`wirework registry serve`) holds
// wirework/sms, published and not installed, for the install tests.
// The tests read WIREWORK_STUDIO_URL, WIREWORK_TEST_TOKEN and
// WIREWORK_REGISTRY_URL; the returned function stops the server and the
// registry and removes the directory.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '../..');

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

/** Wait until `url` answers 2xx (a minute at most), failing if `child` exits first. */
async function waitUntilUp(url: string, child: ChildProcess) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const up = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${url} did not come up`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export default async function setup() {
  const ww = process.env.WIREWORK_BIN ?? join(repo, 'target/debug/wirework');
  if (!existsSync(ww)) throw new Error(`${ww} is missing: build it first (cargo build -p wirework)`);
  const dist = join(repo, 'studio/dist/index.html');
  if (!existsSync(dist)) throw new Error('studio/dist is missing: run `npm run build` in studio/ first');
  const dir = mkdtempSync(join(tmpdir(), 'wirework-studio-e2e-'));
  const env = {
    ...process.env,
    WIREWORK_HOME: join(dir, 'home'),
    WIREWORK_WASM_TARGET_DIR: process.env.WIREWORK_WASM_TARGET_DIR ?? join(repo, 'target/wasm-plugins'),
  };
  const data = join(dir, 'data');
  const build = (plugin: string) => {
    const built = execFileSync(ww, ['plugin', 'build', join(repo, 'plugins', plugin), '--out', join(dir, 'packages')], {
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = built.trim().split('\n');
    return lines[lines.length - 1] ?? '';
  };
  for (const plugin of ['core', 'http']) {
    execFileSync(ww, ['plugin', 'add', build(plugin), '--data-dir', data], { env, stdio: 'ignore' });
  }

  const registryPort = await freePort();
  const registryUrl = `http://127.0.0.1:${registryPort}`;
  const registry = spawn(ww, ['registry', 'serve', '--listen', `127.0.0.1:${registryPort}`, '--data-dir', join(dir, 'registry')], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitUntilUp(`${registryUrl}/v1/key`, registry);
  execFileSync(ww, ['plugin', 'publish', build('sms'), '--registry', registryUrl], { env, stdio: 'ignore' });

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const token = `ww_studio_e2e_${Math.random().toString(16).slice(2)}`;
  const server = spawn(
    ww,
    ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', data, '--studio-dir', join(repo, 'studio/dist')],
    { env: { ...env, WIREWORK_ADMIN_TOKEN: token }, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await waitUntilUp(`${url}/healthz`, server);
  const deployed = await fetch(`${url}/api/v1/workflows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/yaml' },
    body: readFileSync(join(repo, 'examples/workflows/lead-intake.yaml'), 'utf8'),
  });
  if (!deployed.ok) throw new Error(`deploying lead-intake: ${deployed.status} ${await deployed.text()}`);
  // A workflow that always fails: its HTTP call goes to a host never granted.
  const flaky = await fetch(`${url}/api/v1/workflows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/yaml' },
    body: [
      'id: flaky',
      'triggers: [{id: go, type: manual}]',
      'nodes: [{id: call, uses: "wirework/http@^0.1", node: request, config: {url: "http://127.0.0.1:9/down"}}]',
      'connections: [{from: go, to: call}]',
    ].join('\n'),
  });
  if (!flaky.ok) throw new Error(`deploying flaky: ${flaky.status} ${await flaky.text()}`);
  // A workflow that waits for a decision, an event named by its item.
  const approvals = await fetch(`${url}/api/v1/workflows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/yaml' },
    body: [
      'id: approvals',
      'triggers: [{id: go, type: manual}]',
      'nodes:',
      '  - {id: decide, uses: "wirework/core@^0.1", node: wait, config: {event: "approval.decided:{{ $json.request_id }}", timeout_seconds: 3600}}',
      '  - {id: done, uses: "wirework/core@^0.1", node: noop}',
      'connections: [{from: go, to: decide}, {from: decide, to: done}]',
    ].join('\n'),
  });
  if (!approvals.ok) throw new Error(`deploying approvals: ${approvals.status} ${await approvals.text()}`);

  process.env.WIREWORK_STUDIO_URL = url;
  process.env.WIREWORK_TEST_TOKEN = token;
  process.env.WIREWORK_REGISTRY_URL = registryUrl;
  return async () => {
    for (const child of [server, registry]) {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
}
