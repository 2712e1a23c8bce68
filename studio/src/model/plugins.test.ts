import { describe, expect, it } from 'vitest';
import type { Plugin, PluginPreview } from '../api/types';
import { capabilities, grantedNow, installGrants, requestedCapabilities } from './plugins';

const preview: PluginPreview = {
  name: 'wirework/sms',
  version: '0.1.0',
  requested: { http: ['api.twilio.com', '*'], kv: true, credentials: ['twilio'], events: ['sms.*'], secrets: ['old'] },
  grants: { http: ['api.twilio.com'], http_internal: ['10.0.0.5'], kv: false, credentials: ['twilio'], events: [] },
  key_id: 'ed25519:ab',
  registry: 'http://127.0.0.1:7080',
  notes: [],
};

describe('the install prompt', () => {
  it('asks about each requested capability, with the grant that allows it', () => {
    expect(requestedCapabilities(preview.requested)).toEqual([
      { name: 'http api.twilio.com', what: 'call api.twilio.com over HTTP', grant: 'http=api.twilio.com' },
      { name: 'http *', what: 'call * over HTTP', grant: 'http=*' },
      { name: 'kv', what: 'keep key-value state', grant: 'kv' },
      { name: 'credential twilio', what: 'be handed twilio credentials bound to its nodes', grant: 'credential=twilio' },
      { name: 'event sms.*', what: 'publish events sms.*', grant: 'event=sms.*' },
      { name: 'secret old', what: 'read the secret old', grant: null },
    ]);
  });

  it('starts from what the plugin is granted now and grants exactly what is ticked', () => {
    expect([...grantedNow(preview)].sort()).toEqual(['credential=twilio', 'http=api.twilio.com']);
    expect(grantedNow({ ...preview, grants: undefined }).size).toBe(0);
    // `none` first: unticking takes a grant away; internal hosts granted before stay.
    expect(installGrants(['kv', 'http=api.twilio.com'], preview)).toEqual(['none', 'http=api.twilio.com', 'kv', 'http-internal=10.0.0.5']);
    expect(installGrants([], { ...preview, grants: undefined })).toEqual(['none']);
  });

  it('shows an installed plugin\'s requests with whether each is granted', () => {
    const plugin = { ...preview, digest: '', nodes: [], grants: preview.grants! } as unknown as Plugin;
    expect(capabilities(plugin)).toEqual([
      { what: 'http api.twilio.com', granted: true },
      { what: 'http *', granted: false },
      { what: 'kv', granted: false },
      { what: 'credential twilio', granted: true },
      { what: 'event sms.*', granted: false },
      { what: 'secret old', granted: true },
    ]);
  });
});
