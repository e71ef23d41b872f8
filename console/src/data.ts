/**
 * Loading and live updates. A page loads what it shows with `useLoad`; `useEnvironmentEvents`
 * follows the environment's event stream (server-sent events, with the session cookie) and bumps
 * a counter on each event, which the page passes to `useLoad` to refresh.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, envPath } from './api.ts';
import type { EventView } from './api-types.ts';

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
}

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<Loaded<T>>({ data: undefined, error: undefined, loading: true });
  const generation = useRef(0);
  useEffect(() => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => {
        if (mine === generation.current) setState({ data, error: undefined, loading: false });
      },
      (err: unknown) => {
        const e = err instanceof ApiError ? err : new ApiError(0, undefined, String(err));
        if (mine === generation.current) setState((s) => ({ data: s.data, error: e, loading: false }));
      },
    );
  }, deps);
  return state;
}

export interface Live {
  /** Grows by one for each event (coalesced over a short while), so loads can depend on it. */
  tick: number;
  /** The events seen since the page opened, newest first (at most 200). */
  events: EventView[];
  connected: boolean;
}

const COALESCE_MS = 300;

export function useEnvironmentEvents(owner: string, name: string, env: string): Live {
  const [live, setLive] = useState<Live>({ tick: 0, events: [], connected: false });
  useEffect(() => {
    setLive({ tick: 0, events: [], connected: false });
    const source = new EventSource(`${envPath(owner, name, env)}/events?follow=true`);
    let pending: EventView[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      timer = undefined;
      const fresh = pending.reverse();
      pending = [];
      setLive((l) => ({ tick: l.tick + 1, events: [...fresh, ...l.events].slice(0, 200), connected: true }));
    };
    source.onopen = () => setLive((l) => ({ ...l, connected: true }));
    source.onerror = () => setLive((l) => ({ ...l, connected: false }));
    source.onmessage = (m: MessageEvent<string>) => {
      try {
        pending.push(JSON.parse(m.data) as EventView);
      } catch {
        return;
      }
      timer ??= setTimeout(flush, COALESCE_MS);
    };
    return () => {
      clearTimeout(timer);
      source.close();
    };
  }, [owner, name, env]);
  return live;
}
