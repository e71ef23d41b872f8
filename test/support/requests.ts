/** Submitting to and watching requests of a running control service, over plain HTTP. */
import { eventually } from './control.ts';

export const FAULTY_APP = ['node', '--import', 'tsx', 'test/fixtures/apps/faulty-app.ts'];

export interface Status {
  status: string;
  request_id: string;
  error?: string;
  error_type?: string;
}

export async function submit(
  base: string,
  app: string,
  input: unknown,
  headers: Record<string, string> = {},
  query = '',
): Promise<string> {
  const res = await fetch(`${base}/queue/test/${app}${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(input),
  });
  if (!res.ok) throw new Error(`submit: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { request_id: string }).request_id;
}

/** Polls status until COMPLETED; connection errors (control restarting) are waited out. */
export function completed(base: () => string, app: string, id: string, timeoutMs = 60_000): Promise<Status> {
  return eventually(
    async () => {
      const res = await fetch(`${base()}/queue/test/${app}/requests/${id}/status`).catch(() => undefined);
      if (!res?.ok) return undefined;
      const s = (await res.json()) as Status;
      return s.status === 'COMPLETED' ? s : undefined;
    },
    timeoutMs,
    `request ${id} to complete`,
  );
}

export async function result(
  base: string,
  app: string,
  id: string,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${base}/queue/test/${app}/requests/${id}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

export interface RequestRow {
  request_id: string;
  status: string;
  attempts: number;
  runner_id: string | null;
  result_status: number | null;
  error_type: string | null;
  dead_lettered: boolean;
}

export interface RunnerRow {
  id: string;
  state: string;
  detail: string | null;
  history: { state: string }[];
}

export type Admin = (pathname: string, init?: { method?: string; body?: unknown }) => Promise<Response>;

export async function requestRows(admin: Admin, app: string): Promise<RequestRow[]> {
  const res = await admin(`/v1/apps/test/${app}/environments/production/requests?limit=500`);
  return ((await res.json()) as { requests: RequestRow[] }).requests;
}

export async function runnerRows(admin: Admin, app: string): Promise<RunnerRow[]> {
  const res = await admin(`/v1/apps/test/${app}/environments/production/runners`);
  return ((await res.json()) as { runners: RunnerRow[] }).runners;
}

export const isLive = (r: RunnerRow) => !['TERMINATED', 'CRASH_BACKOFF'].includes(r.state);
