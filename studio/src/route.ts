// Where the studio is, in the URL's fragment (`#/workflows/lead-intake`), so
// the server serves one page and the back button works.

export type Route =
  | { kind: 'workflows' }
  | { kind: 'workflow'; id: string }
  | { kind: 'executions' }
  | { kind: 'execution'; id: string }
  | { kind: 'edit'; id: string | null }
  | { kind: 'credentials' }
  | { kind: 'plugins' }
  | { kind: 'dashboard' };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  const [section, id] = path.split('/');
  if (section === 'workflows' && id) return { kind: 'workflow', id: decodeURIComponent(id) };
  if (section === 'executions' && id) return { kind: 'execution', id: decodeURIComponent(id) };
  if (section === 'executions') return { kind: 'executions' };
  if (section === 'new') return { kind: 'edit', id: null };
  if (section === 'credentials') return { kind: 'credentials' };
  if (section === 'plugins') return { kind: 'plugins' };
  if (section === 'dashboard') return { kind: 'dashboard' };
  if (section === 'edit' && id) return { kind: 'edit', id: decodeURIComponent(id) };
  return { kind: 'workflows' };
}

export function href(route: Route): string {
  switch (route.kind) {
    case 'workflow':
      return `#/workflows/${encodeURIComponent(route.id)}`;
    case 'execution':
      return `#/executions/${encodeURIComponent(route.id)}`;
    case 'executions':
      return '#/executions';
    case 'edit':
      return route.id === null ? '#/new' : `#/edit/${encodeURIComponent(route.id)}`;
    case 'credentials':
      return '#/credentials';
    case 'plugins':
      return '#/plugins';
    case 'dashboard':
      return '#/dashboard';
    case 'workflows':
      return '#/workflows';
  }
}

/** Go to `route` (a new history entry, as following a link does). */
export function go(route: Route): void {
  window.location.assign(href(route));
}
