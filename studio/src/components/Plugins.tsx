// Installed plugins: each version with its node types, what its manifest
// requests and what the operator granted (what is requested and not granted
// stands out), and removal (which the server refuses while a workflow uses it).
import { useEffect, useState } from 'react';
import { api } from '../api/client';
import type { Plugin } from '../api/types';

/** What a plugin requests, for humans, each with whether it is granted. */
export function capabilities(plugin: Plugin): { what: string; granted: boolean }[] {
  const requested = plugin.requested;
  const grants = plugin.grants;
  const out: { what: string; granted: boolean }[] = [];
  for (const host of requested.http ?? []) out.push({ what: `http ${host}`, granted: (grants.http ?? []).includes(host) });
  if (requested.kv) out.push({ what: 'kv', granted: grants.kv ?? false });
  for (const c of requested.credentials ?? []) out.push({ what: `credential ${c}`, granted: (grants.credentials ?? []).includes(c) });
  for (const e of requested.events ?? []) out.push({ what: `event ${e}`, granted: (grants.events ?? []).includes(e) });
  for (const s of requested.secrets ?? []) out.push({ what: `secret ${s}`, granted: true });
  return out;
}

export default function Plugins() {
  const [plugins, setPlugins] = useState<Plugin[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    let live = true;
    api.plugins().then(
      (list) => live && setPlugins(list),
      (e: unknown) => live && setError(String(e)),
    );
    return () => {
      live = false;
    };
  }, [reloads]);

  const remove = async (plugin: Plugin) => {
    setError(null);
    try {
      await api.removePlugin(plugin.name, plugin.version);
      setReloads((n) => n + 1);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <section aria-labelledby="plugins-title">
      <h1 id="plugins-title">Plugins</h1>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {plugins?.map((plugin) => (
        <article key={`${plugin.name}@${plugin.version}`} className="plugin" aria-label={`${plugin.name}@${plugin.version}`}>
          <h2>
            {plugin.name} <span className="version">{plugin.version}</span>
          </h2>
          <p className="meta">sha256 {plugin.digest.slice(0, 16)}…</p>
          <ul className="nodes">
            {plugin.nodes.map((node) => (
              <li key={node.name}>
                <strong>{node.title}</strong> <code>{node.name}</code> ({node.kind})
                {node.description ? `: ${node.description}` : ''}
              </li>
            ))}
          </ul>
          <ul className="capabilities" aria-label={`Capabilities of ${plugin.name}`}>
            {capabilities(plugin).map((c) => (
              <li key={c.what} className={c.granted ? 'granted' : 'not-granted'}>
                {c.what}: {c.granted ? 'granted' : 'not granted'}
              </li>
            ))}
          </ul>
          <button type="button" onClick={() => remove(plugin)}>
            Remove {plugin.name}@{plugin.version}
          </button>
        </article>
      ))}
    </section>
  );
}
