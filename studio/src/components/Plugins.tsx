// Installed plugins: each version with its node types, what its manifest
// requests and what the operator granted (what is requested and not granted
// stands out), the fuel it used, and removal (which the server refuses while
// a workflow uses it). Installing from a registry asks about each requested
// capability first (the server previews the verified package); plugins from
// a registry upgrade within their locked range.
import { useState } from 'react';
import { api } from '../api/client';
import type { Plugin, PluginPreview, Upgrade } from '../api/types';
import { byLabel, parseMetrics } from '../model/metrics';
import { capabilities, grantedNow, installGrants, requestedCapabilities } from '../model/plugins';
import { useLoad } from './useLoad';

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

async function load(): Promise<{ plugins: Plugin[]; fuel: Map<string, number> }> {
  const [plugins, metrics] = await Promise.all([api.plugins(), api.metrics().catch(() => '')]);
  return { plugins, fuel: new Map(byLabel(parseMetrics(metrics), 'wirework_fuel_consumed_total', 'plugin')) };
}

/** The capability prompt: each requested capability, granted only when ticked. */
function Prompt({
  spec,
  preview,
  trustOnFirstUse,
  onInstalled,
  onCancel,
}: {
  /** `publisher/name@range`, as asked for. */
  spec: string;
  preview: PluginPreview;
  trustOnFirstUse: boolean;
  onInstalled: (note: string) => void;
  onCancel: () => void;
}) {
  const asked = requestedCapabilities(preview.requested);
  const [chosen, setChosen] = useState<Set<string>>(() => grantedNow(preview));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const toggle = (grant: string, on: boolean) =>
    setChosen((now) => {
      const next = new Set(now);
      if (on) next.add(grant);
      else next.delete(grant);
      return next;
    });
  const install = async () => {
    setBusy(true);
    setError(null);
    try {
      const granted = asked.filter((c) => c.grant !== null && chosen.has(c.grant)).map((c) => c.grant!);
      // The range asked for, which the lockfile keeps and upgrades stay in.
      const installed = await api.install(spec, preview.registry, installGrants(granted, preview), trustOnFirstUse);
      const missing = installed.not_granted?.length ? `; not granted: ${installed.not_granted.join(', ')}` : '';
      const newer = installed.version !== preview.version ? ` (published since the review: ${preview.version} was reviewed)` : '';
      onInstalled(`Installed ${installed.name} ${installed.version}${newer}${missing}.`);
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="prompt" role="group" aria-label={`Install ${preview.name} ${preview.version}`}>
      <h3>
        {preview.name} <span className="version">{preview.version}</span>
      </h3>
      <p className="meta">
        From {preview.registry}, signed by key {preview.key_id}
      </p>
      {preview.notes.map((note) => (
        <p key={note} className="hint">
          {note}
        </p>
      ))}
      {asked.length === 0 ? (
        <p>It requests no capabilities.</p>
      ) : (
        <fieldset>
          <legend>It asks to:</legend>
          {asked.map((c) =>
            c.grant === null ? (
              <p key={c.what}>{c.what} (needs no grant)</p>
            ) : (
              <label key={c.grant} className="check">
                <input type="checkbox" checked={chosen.has(c.grant)} onChange={(e) => toggle(c.grant!, e.target.checked)} />
                {c.what}
              </label>
            ),
          )}
        </fieldset>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="button" className="primary" onClick={install} disabled={busy}>
          Install with these grants
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

function InstallFromRegistry({ registries, onInstalled }: { registries: string[]; onInstalled: (note: string) => void }) {
  const [registry, setRegistry] = useState(registries[0] ?? '');
  const [spec, setSpec] = useState('');
  const [tofu, setTofu] = useState(false);
  const [preview, setPreview] = useState<PluginPreview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const review = async () => {
    setBusy(true);
    setError(null);
    setPreview(null);
    try {
      setPreview(await api.previewInstall(spec.trim(), registry.trim(), tofu));
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="install" aria-labelledby="install-title">
      <h2 id="install-title">Install from a registry</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void review();
        }}
      >
        <label>
          Registry URL
          <input value={registry} onChange={(e) => setRegistry(e.target.value)} placeholder="https://registry.example.com" required />
        </label>
        <label>
          Plugin
          <input value={spec} onChange={(e) => setSpec(e.target.value)} placeholder="publisher/name@^1" required />
        </label>
        <label className="check">
          <input type="checkbox" checked={tofu} onChange={(e) => setTofu(e.target.checked)} />
          Trust the publisher&apos;s current key if no key of it is trusted yet
        </label>
        <button type="submit" disabled={busy}>
          Review
        </button>
      </form>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {preview && (
        <Prompt
          key={`${preview.name}@${preview.version}`}
          spec={spec.trim()}
          preview={preview}
          trustOnFirstUse={tofu}
          onCancel={() => setPreview(null)}
          onInstalled={(note) => {
            setPreview(null);
            setSpec('');
            onInstalled(note);
          }}
        />
      )}
    </section>
  );
}

function describeUpgrade(upgrade: Upgrade): string {
  switch (upgrade.outcome) {
    case 'upgraded':
      return `${upgrade.name}: upgraded from ${upgrade.from} to ${upgrade.version ?? '?'}${
        upgrade.not_granted?.length ? `; not granted: ${upgrade.not_granted.join(', ')}` : ''
      } (workflows keep the version they pinned until deployed again).`;
    case 'current':
      return `${upgrade.name}: ${upgrade.from} is the newest in ${upgrade.range}.`;
    case 'failed':
      return `${upgrade.name}: not upgraded: ${upgrade.error ?? 'failed'}`;
  }
}

export default function Plugins() {
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  const current = useLoad(load, 'plugins', reloads);

  const act = async (what: () => Promise<string | null>) => {
    setError(null);
    setNote(null);
    try {
      setNote(await what());
      setReloads((n) => n + 1);
    } catch (e) {
      setError(message(e));
    }
  };
  const loaded = current.state === 'ready' ? current.value : null;
  const registries = [...new Set((loaded?.plugins ?? []).flatMap((p) => (p.registry ? [p.registry] : [])))];

  return (
    <section aria-labelledby="plugins-title">
      <h1 id="plugins-title">Plugins</h1>
      {(error ?? (current.state === 'failed' ? current.error : null)) && (
        <p role="alert" className="error">
          {error ?? (current.state === 'failed' ? current.error : '')}
        </p>
      )}
      {note && (
        <p role="status" className="note">
          {note}
        </p>
      )}
      {loaded && (
        <InstallFromRegistry key={registries.join(' ')} registries={registries} onInstalled={(n) => act(async () => n)} />
      )}
      {loaded?.plugins.map((plugin) => (
        <article key={`${plugin.name}@${plugin.version}`} className="plugin" aria-label={`${plugin.name}@${plugin.version}`}>
          <h2>
            {plugin.name} <span className="version">{plugin.version}</span>
          </h2>
          <p className="meta">
            sha256 {plugin.digest.slice(0, 16)}… · {plugin.registry ? `from ${plugin.registry} (${plugin.range ?? ''})` : 'added from a file'} ·
            fuel used since the server started: {(loaded.fuel.get(`${plugin.name}@${plugin.version}`) ?? 0).toLocaleString('en')}
          </p>
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
          <div className="actions">
            {plugin.registry && (
              <button
                type="button"
                onClick={() => act(async () => (await api.upgrade([plugin.name])).plugins.map(describeUpgrade).join(' '))}
              >
                Upgrade {plugin.name}
              </button>
            )}
            <button
              type="button"
              onClick={() =>
                act(async () => {
                  await api.removePlugin(plugin.name, plugin.version);
                  return `Removed ${plugin.name} ${plugin.version}.`;
                })
              }
            >
              Remove {plugin.name}@{plugin.version}
            </button>
          </div>
        </article>
      ))}
    </section>
  );
}
