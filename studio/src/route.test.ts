import { describe, expect, it } from 'vitest';
import { href, parseRoute } from './route';

describe('routes', () => {
  it('round-trip through the fragment', () => {
    const routes = [
      { kind: 'workflows' } as const,
      { kind: 'workflow', id: 'lead intake/2' } as const,
      { kind: 'executions' } as const,
      { kind: 'execution', id: '01a2-b3' } as const,
      { kind: 'edit', id: null } as const,
      { kind: 'edit', id: 'lead-intake' } as const,
      { kind: 'credentials' } as const,
      { kind: 'plugins' } as const,
      { kind: 'dashboard' } as const,
    ];
    for (const route of routes) {
      expect(parseRoute(href(route))).toEqual(route);
    }
  });
  it('fall back to the workflow list', () => {
    expect(parseRoute('')).toEqual({ kind: 'workflows' });
    expect(parseRoute('#/nothing/here')).toEqual({ kind: 'workflows' });
  });
});
