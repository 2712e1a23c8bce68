// A fake api.github.com on loopback, run in a worker thread, with a
// synchronous bridge so the component's `http-fetch` import (a synchronous
// call) can reach it from the main thread.
//
// The main thread posts a request with a shared flag and blocks on
// `Atomics.wait`; this worker, whose event loop is free, sends the request to
// its server over real HTTP, posts the answer back and wakes the main thread,
// which reads it with `receiveMessageOnPort`.
//
// The repository name picks the answer:
//   missing   404 Not Found           invalid  422 Validation Failed
//   forbidden 403 (no rate limit)     limited  403, x-ratelimit-remaining: 0
//   busy      429, Retry-After: 7     down     503, Retry-After: an HTTP date
//   flaky     502, no Retry-After     anything else: 201 and the issue
// A token other than `test-token` is answered 401.

import { createServer } from 'node:http';
import { MessageChannel, Worker, isMainThread, parentPort, receiveMessageOnPort } from 'node:worker_threads';
import { once } from 'node:events';

if (!isMainThread) {
  const requests = [];
  let next = 1;
  const server = createServer((req, res) => {
    let chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method, path: req.url, headers: req.headers, body });
      const reply = (status, json, headers = {}) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
        res.end(JSON.stringify(json));
      };
      const m = req.url.match(/^\/repos\/([^/]+)\/([^/]+)\/issues$/);
      if (!m || req.method !== 'POST') return reply(404, { message: 'Not Found' });
      if (req.headers.authorization !== 'Bearer test-token') return reply(401, { message: 'Bad credentials' });
      const [, owner, repo] = m;
      switch (repo) {
        case 'missing':
          return reply(404, { message: 'Not Found' });
        case 'invalid':
          return reply(422, {
            message: 'Validation Failed',
            errors: [{ resource: 'Issue', code: 'invalid', field: 'assignees' }],
          });
        case 'forbidden':
          return reply(403, { message: 'Resource not accessible by personal access token' });
        case 'limited':
          return reply(403, { message: 'API rate limit exceeded' }, {
            'x-ratelimit-remaining': '0',
            'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 60),
          });
        case 'busy':
          return reply(429, { message: 'You have exceeded a secondary rate limit' }, { 'retry-after': '7' });
        case 'down':
          return reply(503, { message: 'Service Unavailable' }, {
            'retry-after': new Date(Date.now() + 120_000).toUTCString(),
          });
        case 'flaky':
          return reply(502, { message: 'Server Error' });
      }
      const issue = JSON.parse(body);
      const number = next++;
      reply(201, {
        id: 1000 + number,
        number,
        url: `https://api.github.com/repos/${owner}/${repo}/issues/${number}`,
        html_url: `https://github.com/${owner}/${repo}/issues/${number}`,
        title: issue.title,
        body: issue.body ?? null,
        state: 'open',
        labels: (issue.labels ?? []).map((name, i) => ({ id: i + 1, name })),
        assignees: (issue.assignees ?? []).map((login) => ({ login })),
      });
    });
  });
  server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));

  parentPort.on('message', async ({ bridge }) => {
    bridge.on('message', async ({ op, request, flag }) => {
      let answer;
      try {
        if (op === 'requests') {
          answer = { ok: requests.splice(0) };
        } else {
          const response = await fetch(request.url, {
            method: request.method,
            headers: request.headers,
            body: request.body.length > 0 ? request.body : undefined,
          });
          answer = {
            ok: {
              status: response.status,
              headers: [...response.headers],
              body: new Uint8Array(await response.arrayBuffer()),
            },
          };
        }
      } catch (e) {
        answer = { err: String(e.cause?.message ?? e.message) };
      }
      bridge.postMessage(answer);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
    });
  });
}

/** Starts the fake GitHub; returns its address and synchronous calls into it. */
export async function startFakeGithub() {
  const worker = new Worker(new URL(import.meta.url));
  const [{ port }] = await once(worker, 'message');
  const { port1, port2 } = new MessageChannel();
  worker.postMessage({ bridge: port2 }, [port2]);

  function call(message) {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    port1.postMessage({ ...message, flag });
    if (Atomics.wait(flag, 0, 0, 10_000) === 'timed-out') throw new Error('fake GitHub did not answer');
    const answer = receiveMessageOnPort(port1)?.message;
    if (!answer) throw new Error('fake GitHub answered nothing');
    return answer;
  }

  return {
    origin: `http://127.0.0.1:${port}`,
    /** Sends a request (`{method, url, headers: [[k, v]], body: Uint8Array}`), blocking; `{ok: response}` or `{err: message}`. */
    fetch: (request) => call({ op: 'fetch', request }),
    /** The requests the server received since the last call. */
    requests: () => call({ op: 'requests' }).ok,
    stop: () => worker.terminate(),
  };
}
