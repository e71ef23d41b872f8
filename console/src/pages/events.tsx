/**
 * What happened to the environment (runner state changes, rollouts, deploys, scaling changes,
 * crash loops, dead letters), live; and its log lines, app setup and crash output included.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, envPath } from '../api.ts';
import type { EventView, LogLine } from '../api-types.ts';
import { useLoad } from '../data.ts';
import { clock } from '../format.ts';
import type { EnvProps } from './environment.tsx';

export function EventsTab(p: EnvProps) {
  const base = envPath(p.owner, p.name, p.env);
  const first = useLoad(() => api.get<{ events: EventView[] }>(`${base}/events?limit=100`), [base]);
  const seen = new Set<number>();
  const all = [...p.live.events, ...[...(first.data?.events ?? [])].reverse()].filter((e) => {
    if (seen.has(e.seq)) return false;
    seen.add(e.seq);
    return true;
  });
  return (
    <section aria-labelledby="events-h">
      <h2 id="events-h">Events</h2>
      {first.error && (
        <p class="error" role="alert">
          {first.error.message}
        </p>
      )}
      {all.length === 0 && first.data && <p class="muted">Nothing has happened here yet.</p>}
      <ol class="events" aria-live="polite">
        {all.map((e) => (
          <li key={e.seq}>
            <time dateTime={e.at}>{clock(e.at)}</time> <span class="badge">{e.type}</span> {e.message}
            {e.runner_id && <span class="mono muted"> runner {e.runner_id.slice(0, 8)}</span>}
          </li>
        ))}
      </ol>
    </section>
  );
}

export function LogsTab(p: EnvProps) {
  const base = envPath(p.owner, p.name, p.env);
  const [lines, setLines] = useState<LogLine[]>([]);
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    let stopped = false;
    setLines([]);
    const follow = async () => {
      let next: number | undefined;
      while (!stopped) {
        try {
          const q = next === undefined ? '?limit=200' : `?after=${next}&wait_ms=15000`;
          const r = await api.get<{ logs: LogLine[]; next: number }>(`${base}/logs${q}`);
          if (stopped) return;
          next = r.next;
          setError(undefined);
          if (r.logs.length) setLines((old) => [...old, ...r.logs].slice(-1000));
        } catch (err) {
          setError(err instanceof Error ? err.message : String(err));
          await new Promise((res) => setTimeout(res, 3000));
        }
      }
    };
    void follow();
    return () => {
      stopped = true;
    };
  }, [base]);
  return (
    <section aria-labelledby="logs-h">
      <h2 id="logs-h">Logs</h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {lines.length === 0 ? (
        <p class="muted">No log lines yet.</p>
      ) : (
        <pre class="logs" role="log" aria-label="Environment logs">
          {lines
            .map((l) => {
              const who = l.request_id
                ? `req ${l.request_id.slice(0, 8)}`
                : `runner ${(l.runner_id ?? '').slice(0, 8)}`;
              return `${clock(l.timestamp)} ${who} ${l.source} ${l.message}`;
            })
            .join('\n')}
        </pre>
      )}
    </section>
  );
}
