/** Recent requests with status and timings; one request's input, result and logs. */
import { api, envPath } from '../api.ts';
import type { LogLine, RequestDetail, RequestView } from '../api-types.ts';
import { useLoad } from '../data.ts';
import { ago, between, clock, duration } from '../format.ts';
import { ResultView } from '../result-view.tsx';
import { envHref } from '../router.ts';
import type { EnvProps } from './environment.tsx';

function statusText(r: RequestView): string {
  if (r.status !== 'COMPLETED') return r.status;
  if (r.error_type) return `error: ${r.error_type}`;
  return r.result_status && r.result_status >= 400 ? `error ${r.result_status}` : 'OK';
}

function statusClass(r: RequestView): string {
  if (r.status === 'IN_QUEUE') return 'st-pending';
  if (r.status === 'IN_PROGRESS') return 'st-running';
  return r.error_type || (r.result_status ?? 200) >= 400 ? 'st-crash' : 'st-idle';
}

export function RequestsTab(p: EnvProps & { request?: string }) {
  const base = envPath(p.owner, p.name, p.env);
  const data = useLoad(
    () => api.get<{ requests: RequestView[] }>(`${base}/requests?limit=50`),
    [base, p.live.tick],
  );
  return (
    <>
      {p.request && <RequestDetailView {...p} request={p.request} />}
      <section aria-labelledby="requests-h">
        <h2 id="requests-h">Recent requests</h2>
        {data.error && (
          <p class="error" role="alert">
            {data.error.message}
          </p>
        )}
        {data.data && data.data.requests.length === 0 && <p class="muted">No requests yet.</p>}
        {data.data && data.data.requests.length > 0 && (
          <table>
            <thead>
              <tr>
                <th scope="col">Request</th>
                <th scope="col">Status</th>
                <th scope="col">Path</th>
                <th scope="col">Submitted</th>
                <th scope="col">Queue wait</th>
                <th scope="col">Run time</th>
                <th scope="col">Attempts</th>
                <th scope="col">Runner</th>
              </tr>
            </thead>
            <tbody>
              {data.data.requests.map((r) => (
                <tr key={r.request_id} class={r.request_id === p.request ? 'active-row' : ''}>
                  <td class="mono">
                    <a href={envHref(p.owner, p.name, p.env, 'requests', r.request_id)}>
                      {r.request_id.slice(0, 8)}
                    </a>
                  </td>
                  <td>
                    <span class={`badge ${statusClass(r)}`}>{statusText(r)}</span>
                  </td>
                  <td class="mono">/{r.path}</td>
                  <td>{ago(r.created_at)}</td>
                  <td>{duration(between(r.created_at, r.started_at))}</td>
                  <td>{r.inference_time === null ? '—' : duration(r.inference_time * 1000)}</td>
                  <td>{r.attempts}</td>
                  <td class="mono">{r.runner_id ? r.runner_id.slice(0, 8) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

function RequestDetailView(p: EnvProps & { request: string }) {
  const base = `${envPath(p.owner, p.name, p.env)}/requests/${encodeURIComponent(p.request)}`;
  const data = useLoad(async () => {
    const [detail, logs] = await Promise.all([
      api.get<RequestDetail>(base),
      api.get<{ logs: LogLine[] }>(`${base}/logs`),
    ]);
    return { detail, logs: logs.logs };
  }, [base, p.live.tick]);
  if (data.error && !data.data)
    return (
      <p class="error" role="alert">
        {data.error.message}
      </p>
    );
  if (!data.data) return <p class="muted">Loading request…</p>;
  const { detail: r, logs } = data.data;
  return (
    <section class="detail" aria-labelledby="request-h">
      <h2 id="request-h">
        Request <span class="mono">{r.request_id}</span>{' '}
        <span class={`badge ${statusClass(r)}`}>{statusText(r)}</span>
      </h2>
      <dl class="facts">
        <dt>Submitted</dt>
        <dd>{clock(r.created_at)}</dd>
        <dt>Queue wait</dt>
        <dd>{duration(between(r.created_at, r.started_at))}</dd>
        <dt>Run time</dt>
        <dd>{r.inference_time === null ? '—' : duration(r.inference_time * 1000)}</dd>
        <dt>Total</dt>
        <dd>{duration(between(r.created_at, r.completed_at))}</dd>
        <dt>Attempts</dt>
        <dd>{r.attempts}</dd>
        <dt>Runner</dt>
        <dd class="mono">{r.runner_id ?? '—'}</dd>
        {r.error && (
          <>
            <dt>Error</dt>
            <dd>{r.error}</dd>
          </>
        )}
      </dl>
      <div class="two-col">
        <div>
          <h3>Input</h3>
          <ResultView value={r.input} label="Input" />
        </div>
        <div>
          <h3>Result</h3>
          <ResultView value={r.result} label="Result" />
        </div>
      </div>
      <h3>Logs</h3>
      {logs.length === 0 ? (
        <p class="muted">No log lines.</p>
      ) : (
        <pre class="logs" role="log" aria-label="Request logs">
          {logs.map((l) => `${clock(l.timestamp)} ${l.level.padEnd(5)} ${l.message}`).join('\n')}
        </pre>
      )}
    </section>
  );
}
