// What the plugins screen computes: the capabilities a plugin requests, as
// the install prompt asks about them and as the grants the server takes.
import type { Plugin, PluginPreview } from '../api/types';

/** One requested capability: what to tell the operator, and the grant that allows it (none for secrets, which need none). */
export interface Capability {
  what: string;
  grant: string | null;
}

/** What a manifest requests, one capability each. */
export function requestedCapabilities(requested: Plugin['requested']): Capability[] {
  return [
    ...(requested.http ?? []).map((host) => ({ what: `call ${host} over HTTP`, grant: `http=${host}` })),
    ...(requested.kv ? [{ what: 'keep key-value state', grant: 'kv' }] : []),
    ...(requested.credentials ?? []).map((c) => ({ what: `be handed ${c} credentials bound to its nodes`, grant: `credential=${c}` })),
    ...(requested.events ?? []).map((e) => ({ what: `publish events ${e}`, grant: `event=${e}` })),
    ...(requested.secrets ?? []).map((s) => ({ what: `read the secret ${s}`, grant: null })),
  ];
}

/** The grants the plugin has now, as grant strings (what the prompt starts from). */
export function grantedNow(preview: PluginPreview): Set<string> {
  const g = preview.grants;
  if (!g) return new Set();
  return new Set([
    ...(g.http ?? []).map((h) => `http=${h}`),
    ...(g.kv ? ['kv'] : []),
    ...(g.credentials ?? []).map((c) => `credential=${c}`),
    ...(g.events ?? []).map((e) => `event=${e}`),
  ]);
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
