/**
 * One environment of an app: a header with its endpoint and live status, tabs for what it has
 * (overview, revisions, requests, rollouts, events, logs, playground). Every tab reloads when the
 * environment's event stream says something happened.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, envPath } from '../api.ts';
import type { QueueView, RevisionView, RunnerView, SeriesView } from '../api-types.ts';
import { RunnerTimeline, Sparkline, stateClass } from '../charts.tsx';
import { type Live, useEnvironmentEvents, useLoad } from '../data.ts';
import { ago, duration } from '../format.ts';
import { envHref, TABS, type Tab } from '../router.ts';
import { Health } from './apps.tsx';
import { EventsTab, LogsTab } from './events.tsx';
import { Playground } from './playground.tsx';
import { RequestsTab } from './requests.tsx';
import { RevisionsTab } from './revisions.tsx';
import { RolloutsTab } from './rollouts.tsx';

export interface EnvProps {
  owner: string;
  name: string;
  env: string;
  live: Live;
  /** The signed-in key may manage (an ADMIN key): management buttons show only then. */
  canManage: boolean;
}

const TAB_TITLES: Record<Tab, string> = {
  overview: 'Overview',
  revisions: 'Revisions',
  requests: 'Requests',
  rollouts: 'Rollouts',
  events: 'Events',
  logs: 'Logs',
  playground: 'Playground',
};

export function endpointOf(owner: string, name: string, env: string): string {
  return `${owner}/${name}${env === 'production' ? '' : `--${env}`}`;
}

export function EnvironmentPage(props: {
  owner: string;
  name: string;
  env: string;
  tab: Tab;
  request?: string;
  canManage: boolean;
}) {
  const { owner, name, env, tab } = props;
  const live = useEnvironmentEvents(owner, name, env);
  const p: EnvProps = { owner, name, env, live, canManage: props.canManage };
  return (
    <main>
      <header class="env-header">
        <h1>
          <span class="mono">{endpointOf(owner, name, env)}</span>
        </h1>
        <span class={`live-dot ${live.connected ? 'on' : 'off'}`} role="status">
          {live.connected ? 'live' : 'reconnecting…'}
        </span>
      </header>
      <nav class="tabs" aria-label="Environment">
        {TABS.map((t) => (
          <a key={t} href={envHref(owner, name, env, t)} aria-current={t === tab ? 'page' : undefined}>
            {TAB_TITLES[t]}
          </a>
        ))}
      </nav>
      {tab === 'overview' && <Overview {...p} />}
      {tab === 'revisions' && <RevisionsTab {...p} />}
      {tab === 'requests' && <RequestsTab {...p} {...(props.request ? { request: props.request } : {})} />}
      {tab === 'rollouts' && <RolloutsTab {...p} />}
      {tab === 'events' && <EventsTab {...p} />}
      {tab === 'logs' && <LogsTab {...p} />}
      {tab === 'playground' && <Playground endpoint={endpointOf(owner, name, env)} />}
    </main>
  );
}

interface OverviewData {
  revisions: RevisionView[];
  runners: RunnerView[];
  queue: QueueView;
  series: SeriesView;
}

/** In-flight counts and IDLE⇄RUNNING flips are not events: the overview also refreshes on this beat. */
const OVERVIEW_REFRESH_MS = 5_000;

function Overview(p: EnvProps) {
  const base = envPath(p.owner, p.name, p.env);
  const [beat, setBeat] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setBeat((b) => b + 1), OVERVIEW_REFRESH_MS);
    return () => clearInterval(t);
  }, []);
  const data = useLoad<OverviewData>(async () => {
    const [revisions, runners, queue, series] = await Promise.all([
      api.get<{ revisions: RevisionView[] }>(`${base}/revisions`),
      api.get<{ runners: RunnerView[] }>(`${base}/runners?ended_within_hours=1`),
      api.get<QueueView>(`${base}/queue`),
      api.get<SeriesView>(`${base}/series`),
    ]);
    return { revisions: revisions.revisions, runners: runners.runners, queue, series };
  }, [base, p.live.tick, beat]);
  if (data.error && !data.data)
    return (
      <p class="error" role="alert">
        {data.error.message}
      </p>
    );
  if (!data.data) return <p class="muted">Loading…</p>;
  const { revisions, runners, queue, series } = data.data;
  const active = revisions.find((r) => r.active);
  const now = Date.now();
  const live = runners.filter((r) => !r.ended_at);
  const cold = runners.map((r) => r.cold_start_ms).filter((v): v is number => v !== null);
  return (
    <>
      <section class="cards" aria-label="Status">
        <div class="card">
          <h2>Active revision</h2>
          <p class="big" data-testid="active-revision">
            {active ? `#${active.number}` : '—'}
          </p>
          <Health revision={active} />
          {active?.message && <p class="muted">{active.message}</p>}
        </div>
        <div class="card">
          <h2>Queue</h2>
          <p class="big">{queue.queued}</p>
          <p class="muted">
            waiting, {queue.in_progress} running
            {queue.oldest_queued_at ? `, oldest ${ago(queue.oldest_queued_at, now)}` : ''}
          </p>
        </div>
        <div class="card">
          <h2>Runners</h2>
          <p class="big" data-testid="live-runners">
            {live.length}
          </p>
          <p class="muted">
            live; cold start {cold.length ? `${duration(cold[0])} latest` : 'not measured yet'}
          </p>
        </div>
      </section>
      <section class="cards" aria-label="Last hour">
        <div class="card">
          <Sparkline label="Queue depth" values={series.minutes.map((m) => m.queue_depth)} />
        </div>
        <div class="card">
          <Sparkline label="Latency p50" unit=" ms" values={series.minutes.map((m) => m.p50_latency_ms)} />
        </div>
        <div class="card">
          <Sparkline label="Requests per minute" values={series.minutes.map((m) => m.submitted)} />
        </div>
      </section>
      <section aria-labelledby="runners-h">
        <h2 id="runners-h">Runners (last hour)</h2>
        {runners.length === 0 ? (
          <p class="muted">No runners: the environment is scaled to zero. A request starts one.</p>
        ) : (
          <>
            <RunnerTimeline runners={runners} now={now} />
            <table>
              <thead>
                <tr>
                  <th scope="col">Runner</th>
                  <th scope="col">State</th>
                  <th scope="col">Revision</th>
                  <th scope="col">In flight</th>
                  <th scope="col">Cold start</th>
                  <th scope="col">Started</th>
                  <th scope="col">Detail</th>
                </tr>
              </thead>
              <tbody>
                {runners.map((r) => (
                  <tr key={r.id} data-testid="runner-row">
                    <td class="mono">{r.id.slice(0, 8)}</td>
                    <td>
                      <span class={`badge ${stateClass(r.state)}`}>{r.state}</span>
                    </td>
                    <td>{r.revision === null ? '—' : `#${r.revision}`}</td>
                    <td>{r.in_flight}</td>
                    <td>{duration(r.cold_start_ms)}</td>
                    <td>{ago(r.created_at, now)}</td>
                    <td>{r.detail ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </section>
    </>
  );
}
