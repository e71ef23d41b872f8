/** Rollouts with who and why: every change of the active revision, newest first. */
import { api, envPath } from '../api.ts';
import type { RolloutView } from '../api-types.ts';
import { useLoad } from '../data.ts';
import { ago } from '../format.ts';
import type { EnvProps } from './environment.tsx';

const STATE_CLASS: Record<string, string> = {
  in_progress: 'st-setup',
  completed: 'st-idle',
  aborted: 'st-crash',
  superseded: 'st-ended',
};

export function RolloutsTab(p: EnvProps) {
  const base = envPath(p.owner, p.name, p.env);
  const data = useLoad(() => api.get<{ rollouts: RolloutView[] }>(`${base}/rollouts`), [base, p.live.tick]);
  return (
    <section aria-labelledby="rollouts-h">
      <h2 id="rollouts-h">Rollouts</h2>
      {data.error && (
        <p class="error" role="alert">
          {data.error.message}
        </p>
      )}
      {data.data && data.data.rollouts.length === 0 && <p class="muted">No rollouts yet.</p>}
      {data.data && data.data.rollouts.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Revision</th>
              <th scope="col">Strategy</th>
              <th scope="col">State</th>
              <th scope="col">Who</th>
              <th scope="col">Why</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {data.data.rollouts.map((r) => (
              <tr key={r.id}>
                <td>{ago(r.created_at)}</td>
                <td>
                  {r.restart
                    ? `restart #${r.to_revision}`
                    : `${r.from_revision === null ? '—' : `#${r.from_revision}`} → #${r.to_revision}`}
                </td>
                <td>{r.strategy}</td>
                <td>
                  <span class={`badge ${STATE_CLASS[r.state] ?? 'st-ended'}`}>{r.state}</span>
                </td>
                <td>{r.created_by ?? '—'}</td>
                <td>{r.reason ?? '—'}</td>
                <td>{r.detail ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
