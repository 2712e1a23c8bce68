// A workflow definition as YAML (or JSON) text, deployed as a new version
// (a new workflow when its id is new): the server's problems listed with
// their locations, nothing changed, when it refuses.
import { useState } from 'react';
import { api, ApiError } from '../api/client';
import type { Deployed, Problem } from '../api/types';

export function YamlImport({
  title,
  initial,
  onDeployed,
}: {
  title: string;
  initial: string;
  onDeployed: (deployed: Deployed) => void;
}) {
  const [text, setText] = useState(initial);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [error, setError] = useState<string | null>(null);
  const deploy = async () => {
    setError(null);
    setProblems([]);
    try {
      onDeployed(await api.deploy(text));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      if (e instanceof ApiError) setProblems(e.problems);
    }
  };
  const readFile = (file: File | undefined) => {
    if (file) void file.text().then(setText);
  };
  return (
    <section className="import" aria-label={title}>
      <h2>{title}</h2>
      <label>
        From a file
        <input type="file" accept=".yaml,.yml,.json,application/yaml,application/json" onChange={(e) => readFile(e.target.files?.[0])} />
      </label>
      <label htmlFor="yaml">Definition</label>
      <textarea id="yaml" value={text} onChange={(e) => setText(e.target.value)} rows={18} spellCheck={false} />
      <button type="button" onClick={deploy}>
        Deploy as a new version
      </button>
      {error && (
        <div role="alert" className="error">
          <p>{error}</p>
          {problems.length > 0 && (
            <ul>
              {problems.map((p, i) => (
                <li key={i}>
                  <code>{p.location}</code>: {p.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}
