// What the plugins screen computes: the capabilities a plugin requests, as
// the install prompt asks about them and as the grants the server takes.
import type { Plugin, PluginPreview } from '../api/types';

/**
 * One requested capability: its short name (`http api.example.com`), what
 * to tell the operator, and the grant that allows it (none for secrets,
 * which need none).
 */
export interface Capability {
  name: string;
  what: string;
  grant: string | null;
}

/** What a manifest requests, one capability each. */
export function requestedCapabilities(requested: Plugin['requested']): Capability[] {
  return [
    ...(requested.http ?? []).map((host) => ({ name: `http ${host}`, what: `call ${host} over HTTP`, grant: `http=${host}` })),
    ...(requested.kv ? [{ name: 'kv', what: 'keep key-value state', grant: 'kv' }] : []),
    ...(requested.credentials ?? []).map((c) => ({
      name: `credential ${c}`,
      what: `be handed ${c} credentials bound to its nodes`,
      grant: `credential=${c}`,
    })),
    ...(requested.events ?? []).map((e) => ({ name: `event ${e}`, what: `publish events ${e}`, grant: `event=${e}` })),
    ...(requested.secrets ?? []).map((s) => ({ name: `secret ${s}`, what: `read the secret ${s}`, grant: null })),
  ];
}

/** A plugin's grants as grant strings (`http=HOST`, `kv`, `credential=TYPE`, `event=PATTERN`). */
export function grantStrings(grants: Plugin['grants'] | undefined): Set<string> {
  if (!grants) return new Set();
  return new Set([
    ...(grants.http ?? []).map((h) => `http=${h}`),
    ...(grants.kv ? ['kv'] : []),
    ...(grants.credentials ?? []).map((c) => `credential=${c}`),
    ...(grants.events ?? []).map((e) => `event=${e}`),
  ]);
}

/** The grants the plugin has now (what the prompt starts from). */
export function grantedNow(preview: PluginPreview): Set<string> {
  return grantStrings(preview.grants);
}

/** What an installed plugin requests, by short name, each with whether it is granted. */
export function capabilities(plugin: Plugin): { what: string; granted: boolean }[] {
  const granted = grantStrings(plugin.grants);
  return requestedCapabilities(plugin.requested).map((c) => ({ what: c.name, granted: c.grant === null || granted.has(c.grant) }));
}

/**
 * The `grants` of an install: exactly the ones chosen (`none` first, so an
 * earlier grant is replaced, not added to), keeping the internal hosts an
 * operator granted before (the prompt does not ask about them).
 */
export function installGrants(chosen: Iterable<string>, preview: PluginPreview): string[] {
  const internal = (preview.grants?.http_internal ?? []).map((h) => `http-internal=${h}`);
  return ['none', ...[...chosen].sort(), ...internal];
}
