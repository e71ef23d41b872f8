/**
 * The small pictures: sparklines for queue depth and latency, a state timeline per runner, bars
 * for cost. Plain SVG; each carries a text label so a screen reader gets the same figures.
 */
import type { RunnerView } from './api-types.ts';
import { duration } from './format.ts';

export function Sparkline(props: { label: string; values: (number | null)[]; unit?: string }) {
  const { values, label, unit = '' } = props;
  const w = 240;
  const h = 48;
  const nums = values.map((v) => v ?? 0);
  const max = Math.max(1, ...nums);
  const step = nums.length > 1 ? w / (nums.length - 1) : w;
  const points = nums.map((v, i) => `${(i * step).toFixed(1)},${(h - 2 - (v / max) * (h - 4)).toFixed(1)}`);
  const last = values.length ? values[values.length - 1] : null;
  const peak = Math.max(0, ...nums);
  const summary = `${label}: now ${last ?? 'none'}${unit}, peak ${peak}${unit} over the last ${values.length} minutes`;
  return (
    <figure class="spark">
      <figcaption>
        {label} <strong>{last === null || last === undefined ? '—' : `${last}${unit}`}</strong>
        <span class="muted">
          {' '}
          peak {peak}
          {unit}
        </span>
      </figcaption>
      <svg width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={summary}>
        <polyline points={points.join(' ')} fill="none" stroke="currentColor" stroke-width="2" />
      </svg>
    </figure>
  );
}

const STATE_CLASS: Record<string, string> = {
  PENDING: 'st-pending',
  PULLING: 'st-pending',
  SETUP: 'st-setup',
  IDLE: 'st-idle',
  RUNNING: 'st-running',
  DRAINING: 'st-draining',
  TERMINATING: 'st-draining',
  TERMINATED: 'st-ended',
  CRASH_BACKOFF: 'st-crash',
};

export function stateClass(state: string): string {
  return STATE_CLASS[state] ?? 'st-ended';
}

/** One bar per runner: its states over the window, coloured by state, with the times in titles. */
export function RunnerTimeline(props: { runners: RunnerView[]; now: number }) {
  const { runners, now } = props;
  if (runners.length === 0) return null;
  const start = Math.min(...runners.map((r) => Date.parse(r.created_at)));
  const span = Math.max(1000, now - start);
  return (
    <ul class="timeline" aria-label="Runner state timeline">
      {runners.map((r) => {
        const steps = r.history.length ? r.history : [{ state: r.state, at: r.created_at }];
        const end = r.ended_at ? Date.parse(r.ended_at) : now;
        return (
          <li class="timeline-row" key={r.id}>
            <span class="mono">{r.id.slice(0, 8)}</span>
            <div class="timeline-bar">
              {steps.map((s, i) => {
                const from = Date.parse(s.at);
                const to = i + 1 < steps.length ? Date.parse(steps[i + 1]!.at) : end;
                const left = ((from - start) / span) * 100;
                const width = Math.max(0.6, ((Math.max(to, from) - from) / span) * 100);
                return (
                  <span
                    key={`${s.state}-${s.at}`}
                    class={`seg ${stateClass(s.state)}`}
                    style={{ left: `${left}%`, width: `${width}%` }}
                    role="img"
                    aria-label={`${s.state} for ${duration(to - from)}`}
                    title={`${s.state} for ${duration(to - from)}`}
                  />
                );
              })}
            </div>
          </li>
        );
      })}
      <li class="timeline-legend" aria-hidden="true">
        {LEGEND.map(([state, label]) => (
          <span key={state}>
            <span class={`swatch ${stateClass(state)}`} /> {label}
          </span>
        ))}
      </li>
    </ul>
  );
}

/** What the colours of the timeline mean (each segment also names its state for screen readers). */
const LEGEND: [string, string][] = [
  ['PENDING', 'starting'],
  ['SETUP', 'setup'],
  ['IDLE', 'idle'],
  ['RUNNING', 'running'],
  ['DRAINING', 'draining'],
  ['CRASH_BACKOFF', 'crashed'],
  ['TERMINATED', 'ended'],
];

export function Bars(props: { label: string; rows: { key: string; value: number; title: string }[] }) {
  const max = Math.max(1, ...props.rows.map((r) => r.value));
  return (
    <ul class="bars" aria-label={props.label}>
      {props.rows.map((r) => (
        <li class="bar-row" key={r.key}>
          <span class="bar-label">{r.key}</span>
          <span class="bar" style={{ width: `${(r.value / max) * 100}%` }} />
          <span class="bar-value">{r.title}</span>
        </li>
      ))}
    </ul>
  );
}
