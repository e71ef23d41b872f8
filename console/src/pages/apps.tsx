/** The landing page for an ADMIN key: every app, its environments, active revision and health. */
import { api, envPath } from '../api.ts';
import type { AppView, EnvironmentView, RevisionView, RunnerView } from '../api-types.ts';
import { useLoad } from '../data.ts';
import { envHref } from '../router.ts';

interface EnvRow {
  app: AppView;
  env: EnvironmentView;
  active: RevisionView | undefined;
  live: number;
}

const LIVE = new Set(['PENDING', 'PULLING', 'SETUP', 'IDLE', 'RUNNING']);

async function loadRows(): Promise<EnvRow[]> {
  const { apps } = await api.get<{ apps: AppView[] }>('/v1/apps');
  const perApp = await Promise.all(
    apps.map(async (app) => {
      const full = await api.get<AppView & { environments: EnvironmentView[] }>(
        `/v1/apps/${app.owner}/${app.name}`,
      );
      return Promise.all(
        full.environments.map(async (env) => {
          const base = envPath(app.owner, app.name, env.name);
          const [revs, runners] = await Promise.all([
            api.get<{ revisions: RevisionView[] }>(`${base}/revisions`),
            api.get<{ runners: RunnerView[] }>(`${base}/runners?ended_within_hours=0`),
          ]);
          return {
            app,
            env,
            active: revs.revisions.find((r) => r.active),
            live: runners.runners.filter((r) => LIVE.has(r.state)).length,
          };
        }),
      );
    }),
  );
  return perApp.flat();
}

export function Health(props: { revision: RevisionView | undefined }) {
  const r = props.revision;
  if (!r) return <span class="badge st-ended">no revision</span>;
  if (r.status === 'failed')
    return (
      <span class="badge st-crash" title={r.failure ?? ''}>
        failing
      </span>
    );
  if (r.status === 'ok') return <span class="badge st-idle">healthy</span>;
  return <span class="badge st-pending">not started yet</span>;
}

export function AppsPage() {
  const rows = useLoad(loadRows, []);
  return (
    <main>
      <h1>Apps</h1>
      {rows.error && (
        <p class="error" role="alert">
          {rows.error.message}
        </p>
      )}
      {rows.data && rows.data.length === 0 && (
        <p>
          No apps yet: deploy one with <code>gantry deploy</code>.
        </p>
      )}
      {rows.data && rows.data.length > 0 && (
        <table>
          <caption class="sr-only">Apps and their environments</caption>
          <thead>
            <tr>
              <th scope="col">Endpoint</th>
              <th scope="col">Environment</th>
              <th scope="col">Auth</th>
              <th scope="col">Active revision</th>
              <th scope="col">Health</th>
              <th scope="col">Live runners</th>
            </tr>
          </thead>
          <tbody>
            {rows.data.map((r) => (
              <tr key={`${r.app.id}/${r.env.name}`}>
                <td>
                  <a href={envHref(r.app.owner, r.app.name, r.env.name)}>{r.env.endpoint_id}</a>
                </td>
                <td>{r.env.name}</td>
                <td>{r.app.auth_mode}</td>
                <td>
                  {r.active ? `#${r.active.number}${r.active.message ? ` ${r.active.message}` : ''}` : '—'}
                </td>
                <td>
                  <Health revision={r.active} />
                </td>
                <td>{r.live}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
