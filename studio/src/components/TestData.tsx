// The inspector's test-run section for one node: what it emitted in the last
// test run (as text), its pinned output (typed, or taken from the last run;
// a pinned node is not called in test runs), and "Run from here". Keyed by
// its node and pin, so that what is typed starts again from the pin.
import { useState } from 'react';
import { itemCount, parsePorts, type PortItems } from '../model/testrun';

function show(ports: PortItems): string {
  return JSON.stringify(ports, null, 2);
}

export function TestData({
  node,
  output,
  failure,
  pinned,
  busy,
  onPin,
  onRunFrom,
}: {
  node: string;
  /** What it emitted in the last test run. */
  output: PortItems | undefined;
  /** Why it failed in the last test run. */
  failure: string | undefined;
  pinned: PortItems | undefined;
  busy: boolean;
  onPin: (ports: PortItems | null) => void;
  onRunFrom: () => void;
}) {
  const [text, setText] = useState(pinned ? show(pinned) : '');
  const [error, setError] = useState<string | null>(null);

  const apply = () => {
    const parsed = parsePorts(text);
    if ('error' in parsed) setError(parsed.error);
    else onPin(parsed.ports);
  };

  return (
    <section className="test-data" aria-label={`Test data of ${node}`}>
      <h3>Test run</h3>
      {failure && (
        <p className="error" role="status">
          Failed in the last test run: {failure}
        </p>
      )}
      {pinned ? (
        <>
          <label htmlFor={`pinned-${node}`}>Pinned output (test runs use it instead of calling {node})</label>
          <textarea id={`pinned-${node}`} rows={8} value={text} onChange={(e) => setText(e.target.value)} spellCheck={false} />
          {error && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
          <div className="actions">
            <button type="button" onClick={apply}>
              Apply pinned output
            </button>
            <button type="button" onClick={() => onPin(null)}>
              Unpin
            </button>
          </div>
        </>
      ) : output ? (
        <>
          <p className="meta">
            Last test run: {itemCount(output)} item{itemCount(output) === 1 ? '' : 's'} out
          </p>
          <pre className="items" aria-label={`Output of ${node}`}>
            {show(output)}
          </pre>
          <button type="button" onClick={() => onPin(output)}>
            Pin this output
          </button>
        </>
      ) : (
        <button type="button" onClick={() => onPin({ main: [{}] })}>
          Pin an output by hand
        </button>
      )}
      <button type="button" onClick={onRunFrom} disabled={busy}>
        Run from here
      </button>
    </section>
  );
}
