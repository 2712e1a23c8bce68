// The studio's shell and its one piece of shared state: who is signed in and
// which screen is open. Screens load their own data through `api`.
import { lazy, Suspense, useEffect, useReducer } from 'react';
import { api } from './api/client';
import { SignIn } from './components/SignIn';
import { WorkflowList } from './components/WorkflowList';
import { parseRoute, type Route } from './route';

// The canvas (React Flow, ELK) is loaded when a workflow is opened, so the
// first screen stays small.
const WorkflowView = lazy(() => import('./components/WorkflowView'));
const ExecutionView = lazy(() => import('./components/ExecutionView'));
const ExecutionList = lazy(() => import('./components/ExecutionList'));
const Editor = lazy(() => import('./components/Editor'));
const Credentials = lazy(() => import('./components/Credentials'));
const Plugins = lazy(() => import('./components/Plugins'));
const Dashboard = lazy(() => import('./components/Dashboard'));

interface State {
  /** `undefined` while the session is being checked, `null` when signed out. */
  token: string | null | undefined;
  route: Route;
}

type Action = { type: 'session'; token: string | null } | { type: 'navigate'; route: Route };

function reduce(state: State, action: Action): State {
  switch (action.type) {
    case 'session':
      return { ...state, token: action.token };
    case 'navigate':
      return { ...state, route: action.route };
  }
}

export function App() {
  const [state, dispatch] = useReducer(reduce, { token: undefined, route: parseRoute(window.location.hash) });

  useEffect(() => {
    api.session().then(
      (token) => dispatch({ type: 'session', token }),
      () => dispatch({ type: 'session', token: null }),
    );
    const follow = () => dispatch({ type: 'navigate', route: parseRoute(window.location.hash) });
    window.addEventListener('hashchange', follow);
    return () => window.removeEventListener('hashchange', follow);
  }, []);

  if (state.token === undefined) return <p className="loading">Loading…</p>;
  if (state.token === null) return <SignIn onSignedIn={(token) => dispatch({ type: 'session', token })} />;

  const signOut = async () => {
    await api.signOut().catch(() => undefined);
    dispatch({ type: 'session', token: null });
  };

  return (
    <div className="shell">
      <header className="topbar">
        <a className="brand" href="#/workflows">
          Wirework studio
        </a>
        <nav aria-label="Sections">
          <a href="#/workflows" aria-current={state.route.kind === 'workflows' ? 'page' : undefined}>
            Workflows
          </a>
          <a href="#/executions" aria-current={state.route.kind === 'executions' ? 'page' : undefined}>
            Executions
          </a>
          <a href="#/dashboard" aria-current={state.route.kind === 'dashboard' ? 'page' : undefined}>
            Dashboard
          </a>
          <a href="#/plugins" aria-current={state.route.kind === 'plugins' ? 'page' : undefined}>
            Plugins
          </a>
          <a href="#/credentials" aria-current={state.route.kind === 'credentials' ? 'page' : undefined}>
            Credentials
          </a>
        </nav>
        <span className="who">signed in as {state.token}</span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        <Suspense fallback={<p>Loading…</p>}>
          <Screen route={state.route} />
        </Suspense>
      </main>
    </div>
  );
}

function Screen({ route }: { route: Route }) {
  switch (route.kind) {
    case 'workflows':
      return <WorkflowList />;
    case 'workflow':
      return <WorkflowView id={route.id} />;
    case 'executions':
      return <ExecutionList />;
    case 'execution':
      return <ExecutionView id={route.id} />;
    case 'edit':
      return <Editor key={route.id ?? ''} id={route.id} />;
    case 'credentials':
      return <Credentials />;
    case 'plugins':
      return <Plugins />;
    case 'dashboard':
      return <Dashboard />;
  }
}
