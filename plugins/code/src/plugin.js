// `wirework/code`: the code node. The user's JavaScript is the body of a
// function of `items` (the step's input items, JSON objects) that returns
// the items to emit. It runs in this component's JavaScript engine, never in
// the host, under the call's fuel, memory and wall-time limits, and reaches
// nothing but the items and `console` (which writes to the execution's log):
// the component is built with every engine feature off, so there is no
// `fetch`, no timers, no clock and no randomness to reach for.
//
// componentize-js maps the world `plugin` of `wirework:plugin@0.3.0` to
// this module's exports (see examples/github-plugin/src/plugin.js for the
// mapping).

import { log } from 'wirework:plugin/host@0.3.0';

// The engine defines `fetch` and timers even with their features off (they
// would trap: the component imports no WASI). Gone, user code gets a plain
// "fetch is not defined" instead of a trap.
for (const name of ['fetch', 'Request', 'Response', 'Headers', 'setTimeout', 'setInterval', 'clearTimeout', 'clearInterval']) {
  delete globalThis[name];
}

const SCHEMA = {
  type: 'object',
  required: ['code'],
  properties: {
    code: {
      type: 'string',
      description:
        'The body of a function of `items` (a list of JSON objects) that returns the items to emit: ' +
        'a list of objects, one object, or nothing (the items as they are). `console.log` writes to the log.',
      'x-wirework-editor': 'code',
    },
  },
  additionalProperties: false,
};

export function describe() {
  return {
    nodes: [
      {
        name: 'javascript',
        title: 'Code (JavaScript)',
        description: 'Runs your JavaScript over the items, in the sandbox',
        kind: 'action',
        configSchema: JSON.stringify(SCHEMA),
        ports: ['main'],
      },
    ],
  };
}

/** A failure of the user's code: reported, not retried (the same code fails the same way). */
const failure = (message, code) => ({ tag: 'err', val: { message, code, retryable: false } });

/** The parameters the user's function gets, and the line its body starts on. */
const PARAMS = ['items', 'console'];
const PRELUDE = '"use strict";\n';
const FIRST_LINE = (() => {
  try {
    new Function(...PARAMS, PRELUDE + 'throw new Error("probe")')();
  } catch (e) {
    return typeof e.lineNumber === 'number' ? e.lineNumber : null;
  }
  return null;
})();

/** `message (line N)`, N counted in the user's code. */
function located(e) {
  const name = e?.name ?? 'Error';
  const message = e?.message ?? String(e);
  const line = typeof e?.lineNumber === 'number' && FIRST_LINE !== null ? e.lineNumber - FIRST_LINE + 1 : null;
  return line !== null && line >= 1 ? `${name} at line ${line}: ${message}` : `${name}: ${message}`;
}

function text(values) {
  return values
    .map((v) => {
      if (typeof v === 'string') return v;
      try {
        return JSON.stringify(v) ?? String(v);
      } catch {
        return String(v);
      }
    })
    .join(' ');
}

const CONSOLE = Object.freeze({
  log: (...v) => log('info', text(v)),
  info: (...v) => log('info', text(v)),
  debug: (...v) => log('debug', text(v)),
  warn: (...v) => log('warn', text(v)),
  error: (...v) => log('error', text(v)),
});

export function invoke(inv) {
  if (inv.node !== 'javascript') return failure(`unknown node \`${inv.node}\``, 'unknown_node');
  let config;
  try {
    config = JSON.parse(inv.config);
  } catch (e) {
    return failure(`invalid config: ${e.message}`, 'bad_config');
  }
  if (typeof config?.code !== 'string') return failure('invalid config: `code` is the JavaScript to run', 'bad_config');
  const items = inv.items.map((i) => JSON.parse(i));

  let run;
  try {
    run = new Function(...PARAMS, PRELUDE + config.code);
  } catch (e) {
    return failure(located(e), 'syntax_error');
  }
  let result;
  try {
    result = run(items, CONSOLE);
  } catch (e) {
    return failure(located(e), 'code_error');
  }
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
    return failure('the code returned a promise: it runs synchronously (no await, fetch or timers)', 'bad_result');
  }
  const out = result === undefined ? items : Array.isArray(result) ? result : [result];
  const emitted = [];
  for (const [i, item] of out.entries()) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      return failure(`the code returned ${describeValue(item)} as item ${i}: items are objects`, 'bad_result');
    }
    let json;
    try {
      json = JSON.stringify(item);
    } catch (e) {
      return failure(`item ${i} cannot be written as JSON: ${e.message}`, 'bad_result');
    }
    emitted.push(json);
  }
  return { tag: 'ok', val: { tag: 'emit', val: [{ port: 'main', items: emitted }] } };
}

function describeValue(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return `a ${typeof v}`;
}

export function handleRequest(node) {
  return failure(`\`${node}\` is not a trigger`, 'not_a_trigger');
}
