/** Sign in with an API or admin key; control keeps it in an httpOnly cookie, never in this page. */
import { useState } from 'preact/hooks';
import { ApiError, session } from '../api.ts';
import type { Session } from '../api-types.ts';

export function SignIn(props: { onSignedIn: (s: Session) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      props.onSignedIn(await session.signIn(key.trim()));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <h1>Gantry</h1>
      <form onSubmit={submit} aria-describedby="sign-in-help">
        <label for="key">API or admin key</label>
        <input
          id="key"
          name="key"
          type="password"
          autocomplete="current-password"
          required
          value={key}
          onInput={(e) => setKey((e.target as HTMLInputElement).value)}
        />
        <p id="sign-in-help" class="muted">
          The admin key of a local control is in <code>.gantry/admin.key</code>; API keys come from{' '}
          <code>gantry keys create</code>.
        </p>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy || !key.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
