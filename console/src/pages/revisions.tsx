/** Revisions, newest first, with a rollback button on each revision that is not active. */
import { useState } from 'preact/hooks';
import { ApiError, api, envPath } from '../api.ts';
import type { RevisionView } from '../api-types.ts';
import { useLoad } from '../data.ts';
import { ago } from '../format.ts';
import { Health } from './apps.tsx';
import type { EnvProps } from './environment.tsx';

export function RevisionsTab(p: EnvProps) {
  const base = envPath(p.owner, p.name, p.env);
  const [changed, setChanged] = useState(0);
  const data = useLoad(
    () => api.get<{ revisions: RevisionView[] }>(`${base}/revisions`),
    [base, p.live.tick, changed],
  );
  const [confirming, setConfirming] = useState<number | undefined>();
  const [reason, setReason] = useState('');
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | undefined>();
  const revisions = data.data?.revisions ?? [];
  const active = revisions.find((r) => r.active);

  const activate = async (n: number) => {
    setOutcome(undefined);
    try {
      await api.put(`${base}/active-revision`, {
        revision: n,
        reason: reason.trim() || `rolled back to #${n} from the console`,
        by: 'console',
      });
      setOutcome({ ok: true, text: `Rolling ${p.env} to revision #${n}.` });
      setConfirming(undefined);
      setReason('');
      setChanged((c) => c + 1);
    } catch (err) {
      setOutcome({ ok: false, text: err instanceof ApiError ? err.message : String(err) });
    }
  };

  return (
    <section aria-labelledby="revisions-h">
      <h2 id="revisions-h">Revisions</h2>
      {data.error && (
        <p class="error" role="alert">
          {data.error.message}
        </p>
      )}
      {outcome && (
        <p class={outcome.ok ? 'notice' : 'error'} role={outcome.ok ? 'status' : 'alert'}>
          {outcome.text}
        </p>
      )}
      <table>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Message</th>
            <th scope="col">Commit</th>
            <th scope="col">Created</th>
            <th scope="col">Health</th>
            <th scope="col">
              <span class="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {revisions.map((r) => (
            <tr key={r.number} class={r.active ? 'active-row' : ''}>
              <td>
                #{r.number} {r.active && <span class="badge st-running">active</span>}
              </td>
              <td>{r.message ?? (r.image ? r.image : (r.command ?? []).join(' '))}</td>
              <td class="mono">{r.commit_sha ? r.commit_sha.slice(0, 7) : '—'}</td>
              <td>{ago(r.created_at)}</td>
              <td>
                <Health revision={r} />
              </td>
              <td>
                {p.canManage && !r.active && confirming !== r.number && (
                  <button type="button" onClick={() => setConfirming(r.number)}>
                    {active && r.number < active.number
                      ? `Roll back to #${r.number}`
                      : `Make #${r.number} active`}
                  </button>
                )}
                {p.canManage && confirming === r.number && (
                  <form
                    class="inline-form"
                    onSubmit={(e) => {
                      e.preventDefault();
                      void activate(r.number);
                    }}
                  >
                    <label for={`reason-${r.number}`}>Why</label>
                    <input
                      id={`reason-${r.number}`}
                      value={reason}
                      placeholder="e.g. errors after deploy"
                      onInput={(e) => setReason((e.target as HTMLInputElement).value)}
                    />
                    <button type="submit">Confirm switch to #{r.number}</button>
                    <button type="button" class="secondary" onClick={() => setConfirming(undefined)}>
                      Cancel
                    </button>
                  </form>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
