/**
 * FireLens for the ECS stand-in: what the ECS agent and the task's Fluent Bit log router do for a
 * container whose `logConfiguration` is `awsfirelens` with Fluent Bit's `http` output. The agent
 * sends the container's output to the router; the router adds the record fields ECS adds
 * (`source`, `container_name`, `ecs_task_arn`, …) and posts batches to `Host:Port` + `URI` in the
 * output's `Format` (`json_lines` or `json`), retrying a failed post at the next flush.
 *
 * The router's image (AWS's aws-for-fluent-bit) is never run: offline, it cannot be pulled, and
 * what matters to Gantry is what reaches the output. The container's output is followed from the
 * engine (`podman logs -f`) from its start, so no early line is missed, with the engine's time
 * of each line as the record's `date`, as Fluent Bit's record time is when the line was written.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { TestEngine } from './podman.ts';

interface LogConfiguration {
  logDriver?: string;
  options?: Record<string, string>;
}

interface FirelensContainer {
  name: string;
  logConfiguration?: LogConfiguration;
  firelensConfiguration?: { type: string };
}

export interface FirelensFollower {
  /** Waits for the container's output to end (or gives up after a moment) and posts what is left. */
  stop(): Promise<void>;
  /** Stops following at once, posting nothing more (the stand-in is closing). */
  abandon(): void;
}

/** How often the stand-in's router flushes; Fluent Bit's default is 1 s, shorter keeps tests quick. */
const FLUSH_MS = 200;
/** Records held while the output refuses them; the oldest go first beyond this. */
const MAX_BUFFERED = 10_000;

export const isLogRouter = (c: FirelensContainer): boolean => c.firelensConfiguration !== undefined;
export const logsThroughFirelens = (c: FirelensContainer): boolean =>
  c.logConfiguration?.logDriver === 'awsfirelens';

/**
 * What RegisterTaskDefinition refuses, as ECS does: `awsfirelens` without a log router in the task,
 * more than one router, or (for this stand-in) an output it does not emulate.
 */
export function checkFirelens(containers: FirelensContainer[]): string | undefined {
  const routers = containers.filter(isLogRouter);
  if (routers.length > 1)
    return 'A task definition may contain only one container with a firelensConfiguration.';
  for (const c of containers.filter(logsThroughFirelens)) {
    if (routers.length === 0)
      return `Container ${c.name} uses the awsfirelens log driver, and the task definition has no log router container (firelensConfiguration).`;
    const o = c.logConfiguration?.options ?? {};
    if (o.Name !== 'http') return `stand-in: container ${c.name}: only Fluent Bit's http output is emulated`;
    if (!['json_lines', 'json', undefined].includes(o.Format))
      return `stand-in: container ${c.name}: http output Format ${o.Format} is not emulated (json_lines, json)`;
  }
  return undefined;
}

/**
 * Follows one container's output and posts it as the router would. `ports` maps a port the task
 * definition names to the port standing in for it on this host (the task's own loopback).
 */
export function followToFirelens(o: {
  engine: TestEngine;
  engineName: string;
  container: FirelensContainer;
  ports: Map<string, string>;
  meta: { clusterArn: string; taskArn: string; taskDefinition: string };
}): FirelensFollower {
  const opts = o.container.logConfiguration?.options ?? {};
  const port = o.ports.get(opts.Port ?? '') ?? opts.Port ?? '80';
  const url = `http://${opts.Host ?? '127.0.0.1'}:${port}${opts.URI ?? '/'}`;
  const format = opts.Format ?? 'json';
  let buffer: Record<string, unknown>[] = [];
  let sending: Promise<void> = Promise.resolve();

  // With the engine's time of each line: the router's records carry when the line was written.
  const child = spawn('podman', ['logs', '--follow', '--timestamps', o.engineName], {
    env: { ...process.env, ...o.engine.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ended = new Promise<void>((resolve) => child.once('close', () => resolve()));
  for (const [stream, source] of [
    [child.stdout, 'stdout'],
    [child.stderr, 'stderr'],
  ] as const) {
    createInterface({ input: stream }).on('line', (text) => {
      const space = text.indexOf(' ');
      const written = space > 0 ? Date.parse(text.slice(0, space)) : Number.NaN;
      const log = Number.isFinite(written) ? text.slice(space + 1) : text;
      buffer.push({
        date: (Number.isFinite(written) ? written : Date.now()) / 1000,
        log,
        source,
        container_id: o.engineName,
        container_name: `/${o.engineName}`,
        ecs_cluster: o.meta.clusterArn,
        ecs_task_arn: o.meta.taskArn,
        ecs_task_definition: o.meta.taskDefinition,
      });
      if (buffer.length > MAX_BUFFERED) buffer.splice(0, buffer.length - MAX_BUFFERED);
    });
  }

  const post = async () => {
    if (buffer.length === 0) return;
    const batch = buffer;
    buffer = [];
    const body =
      format === 'json_lines' ? batch.map((r) => JSON.stringify(r)).join('\n') : JSON.stringify(batch);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': format === 'json_lines' ? 'application/x-ndjson' : 'application/json' },
        body,
      });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`status ${res.status}`);
    } catch {
      // Not up yet, or refused: Fluent Bit retries the chunk (Retry_Limit no_limits) at a later flush.
      buffer = [...batch, ...buffer];
    }
  };
  const flush = () => {
    sending = sending.then(post);
    return sending;
  };
  const timer = setInterval(() => void flush(), FLUSH_MS);
  timer.unref();

  return {
    abandon() {
      child.kill();
      clearInterval(timer);
    },
    async stop() {
      await Promise.race([ended, new Promise((r) => setTimeout(r, 2_000))]);
      child.kill();
      clearInterval(timer);
      // What the router holds at the task's end: a few last tries, as Fluent Bit's grace period.
      for (let i = 0; i < 5 && buffer.length > 0; i++) {
        await flush();
        if (buffer.length > 0) await new Promise((r) => setTimeout(r, FLUSH_MS));
      }
    },
  };
}
