/**
 * The console's shell: who is signed in, the top navigation, and the page the hash names. An
 * ADMIN key sees every page and the management buttons; an API key sees the endpoints it may call
 * and a playground for each, nothing else.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, session, setCsrfToken } from './api.ts';
import type { Session } from './api-types.ts';
import { AppsPage } from './pages/apps.tsx';
import { CostPage } from './pages/cost.tsx';
import { EnvironmentPage, endpointOf } from './pages/environment.tsx';
import { Playground } from './pages/playground.tsx';
import { SignIn } from './pages/sign-in.tsx';
import { type Route, useRoute } from './router.ts';

type SessionState = { kind: 'loading' } | { kind: 'out' } | { kind: 'in'; session: Session };

function Console() {
  const [state, setState] = useState<SessionState>({ kind: 'loading' });
  const route = useRoute();
  useEffect(() => {
    session.current().then(
      (s) => {
        setCsrfToken(s.csrf);
        setState({ kind: 'in', session: s });
      },
      (err: unknown) => {
        if (!(err instanceof ApiError) || err.status !== 401) console.error(err);
        setState({ kind: 'out' });
      },
    );
  }, []);

  if (state.kind === 'loading') return <p class="muted">Loading…</p>;
  if (state.kind === 'out') {
    return (
      <SignIn
        onSignedIn={(s) => {
          setCsrfToken(s.csrf);
          setState({ kind: 'in', session: s });
        }}
      />
    );
  }
  const s = state.session;
  const admin = s.scope === 'ADMIN';
  const signOut = async () => {
    await session.signOut().catch(() => undefined);
    setCsrfToken('');
    setState({ kind: 'out' });
  };
  return (
    <>
      <a class="skip" href="#content">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/">
          Gantry
        </a>
        <nav aria-label="Main">
          <a href="#/" aria-current={route.page === 'home' ? 'page' : undefined}>
            {admin ? 'Apps' : 'Endpoints'}
          </a>
          {admin && (
            <a href="#/cost" aria-current={route.page === 'cost' ? 'page' : undefined}>
              Cost
            </a>
          )}
        </nav>
        <span class="who" data-testid="who">
          {admin ? 'admin key' : `API key${s.owner ? ` of ${s.owner}` : ''}`}
        </span>
        <button type="button" class="secondary" onClick={signOut}>
          Sign out
        </button>
      </header>
      <div id="content">
        <Page route={route} session={s} />
      </div>
    </>
  );
}

function Page(props: { route: Route; session: Session }) {
  const { route, session: s } = props;
  const admin = s.scope === 'ADMIN';
  if (route.page === 'home') return admin ? <AppsPage /> : <Endpoints session={s} />;
  if (route.page === 'cost' && admin) return <CostPage />;
  if (route.page === 'call')
    return (
      <main>
        <h1 class="mono">{route.endpoint}</h1>
        <Playground endpoint={route.endpoint} />
      </main>
    );
  if (route.page === 'env') {
    if (admin) return <EnvironmentPage {...route} canManage />;
    // An API key may call the endpoint but not see or change how it runs.
    const endpoint = endpointOf(route.owner, route.name, route.env);
    return (
      <main>
        <h1 class="mono">{endpoint}</h1>
        <p class="notice" role="status">
          This is an API key: it may call endpoints, not manage them. Sign in with an admin key to see
          runners, revisions and requests.
        </p>
        <Playground endpoint={endpoint} />
      </main>
    );
  }
  return (
    <main>
      <h1>Not here</h1>
      <p>
        No page {route.page === 'missing' ? route.path : ''} for this key. <a href="#/">Back to the start</a>.
      </p>
    </main>
  );
}

function Endpoints(props: { session: Session }) {
  const list = props.session.endpoints ?? [];
  return (
    <main>
      <h1>Endpoints you can call</h1>
      {list.length === 0 ? (
        <p>This key may call no endpoint yet.</p>
      ) : (
        <ul class="plain">
          {list.map((e) => (
            <li key={e.endpoint_id}>
              <a href={`#/call/${e.endpoint_id}`}>{e.endpoint_id}</a> <span class="badge">{e.auth_mode}</span>
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}

render(<Console />, document.getElementById('root')!);
