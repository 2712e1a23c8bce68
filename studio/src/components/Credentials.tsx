// Credentials, write-only: their names, types and field names are listed;
// values are typed here, sent once, and never come back from the server.
// A credential is created or rotated (replaced whole) with the same form.
import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import type { Credential, CredentialType } from '../api/types';

/** Every credential type the installed plugins declare, as `publisher/plugin:type`. */
interface KnownType {
  id: string;
  type: CredentialType;
}

const PLAIN = '';

function CredentialForm({
  types,
  initial,
  onSaved,
}: {
  types: KnownType[];
  initial: { name: string; type: string } | null;
  onSaved: () => void;
}) {
  const [name, setName] = useState(initial?.name ?? '');
  const [type, setType] = useState(initial?.type ?? types[0]?.id ?? PLAIN);
  const [values, setValues] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const known = types.find((t) => t.id === type);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const fields = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ''));
      await api.setCredential(name, known ? { type, fields } : { value: values.value ?? '' });
      setValues({});
      onSaved();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <form className="credential-form" onSubmit={submit} aria-label={initial ? `Rotate ${initial.name}` : 'New credential'}>
      <h2>{initial ? `Rotate ${initial.name}` : 'New credential'}</h2>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} readOnly={initial !== null} required />
      </label>
      <label>
        Type
        <select value={type} onChange={(e) => setType(e.target.value)} disabled={initial !== null}>
          {types.map((t) => (
            <option key={t.id} value={t.id}>
              {t.id}
              {t.type.title ? ` (${t.type.title})` : ''}
            </option>
          ))}
          <option value={PLAIN}>a plain secret value</option>
        </select>
      </label>
      {known ? (
        known.type.fields.map((field) => (
          <label key={field.name}>
            {field.title ?? field.name}
            {field.optional ? ' (optional)' : ''}
            <input
              type={field.secret ? 'password' : 'text'}
              autoComplete="off"
              value={values[field.name] ?? ''}
              onChange={(e) => setValues({ ...values, [field.name]: e.target.value })}
              required={!field.optional}
            />
          </label>
        ))
      ) : (
        <label>
          Value
          <input
            type="password"
            autoComplete="off"
            value={values.value ?? ''}
            onChange={(e) => setValues({ value: e.target.value })}
            required
          />
        </label>
      )}
      <button type="submit" className="primary">
        {initial ? 'Rotate' : 'Create'}
      </button>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </form>
  );
}

export default function Credentials() {
  const [credentials, setCredentials] = useState<Credential[] | null>(null);
  const [types, setTypes] = useState<KnownType[]>([]);
  const [editing, setEditing] = useState<{ name: string; type: string } | null | undefined>(undefined);
  const [reloads, setReloads] = useState(0);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    Promise.all([api.credentials(), api.plugins()]).then(
      ([list, plugins]) => {
        if (!live) return;
        setCredentials(list);
        setTypes(plugins.flatMap((p) => (p.credential_types ?? []).map((type) => ({ id: `${p.name}:${type.name}`, type }))));
      },
      (e: unknown) => live && setError(String(e)),
    );
    return () => {
      live = false;
    };
  }, [reloads]);

  const saved = () => {
    setEditing(undefined);
    setReloads((n) => n + 1);
  };

  return (
    <section aria-labelledby="credentials-title">
      <h1 id="credentials-title">Credentials</h1>
      <p className="hint">Values are write-only: they are encrypted at rest and never sent back to the browser.</p>
      <p>
        <button type="button" onClick={() => setEditing(null)}>
          New credential
        </button>
      </p>
      {editing !== undefined && (
        <CredentialForm key={editing?.name ?? 'new'} types={types} initial={editing} onSaved={saved} />
      )}
      {error && <p role="alert">Could not load the credentials: {error}</p>}
      {credentials && (
        <table className="list" aria-label="Credentials">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Type</th>
              <th scope="col">Fields</th>
              <th scope="col">Updated</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {credentials.map((c) => (
              <tr key={c.name}>
                <td>{c.name}</td>
                <td>{c.type ?? 'plain value'}</td>
                <td>{(c.fields ?? []).join(', ')}</td>
                <td>{new Date(c.updated_ms).toLocaleString()}</td>
                <td>
                  <button type="button" onClick={() => setEditing({ name: c.name, type: c.type ?? PLAIN })}>
                    Rotate {c.name}
                  </button>{' '}
                  <button
                    type="button"
                    onClick={() => api.deleteCredential(c.name).then(() => setReloads((n) => n + 1), (e: unknown) => setError(String(e)))}
                  >
                    Delete {c.name}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
