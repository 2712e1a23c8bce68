// Sign in with an API token: the server answers with an HttpOnly session
// cookie, and the token is forgotten here as soon as the request is sent.
import { useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';

export function SignIn({ onSignedIn }: { onSignedIn: (name: string) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const name = await api.signIn(token);
      setToken('');
      onSignedIn(name);
    } catch (e) {
      setError(e instanceof ApiError && e.status === 401 ? 'That token is not valid.' : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="signin">
      <h1>Wirework studio</h1>
      <form onSubmit={submit}>
        <label htmlFor="token">API token</label>
        <input
          id="token"
          type="password"
          autoComplete="current-password"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          required
          autoFocus
        />
        <button type="submit" disabled={busy || token.trim() === ''}>
          Sign in
        </button>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
      </form>
      <p className="hint">
        The admin token is printed when the server first starts (or set with <code>WIREWORK_ADMIN_TOKEN</code>);
        make more with <code>wirework token create NAME</code>.
      </p>
    </main>
  );
}
