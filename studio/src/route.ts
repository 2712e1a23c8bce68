// Where the studio is, in the URL's fragment (`#/workflows/lead-intake`), so
// the server serves one page and the back button works.

export type Route = { kind: 'workflows' } | { kind: 'workflow'; id: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  const [section, id] = path.split('/');
  if (section === 'workflows' && id) return { kind: 'workflow', id: decodeURIComponent(id) };
  return { kind: 'workflows' };
}

export function href(route: Route): string {
  return route.kind === 'workflow' ? `#/workflows/${encodeURIComponent(route.id)}` : '#/workflows';
}
