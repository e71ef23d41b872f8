/**
 * `gantry logs`: the log lines of an environment (its requests' and its runners' setup, startup and
 * crash output), or of one request; --follow keeps going.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { EnvLogLine, LogLine } from '../../../contract/src/management-api.ts';
import { parseAppRef } from '../args.ts';
import { type Command, type Context, ENV_OPTION, followOptions, tailLimit } from '../command.ts';

const FOLLOW_WAIT_MS = 10_000;

function printLines(ctx: Context, lines: (LogLine | EnvLogLine)[], withRequest: boolean): void {
  for (const l of lines) {
    if (ctx.out.json) ctx.out.line(JSON.stringify(l));
    else {
      // A line of no request is the app's own output (setup, startup, crash): its runner is named.
      const who = l.request_id
        ? `[${l.request_id.slice(0, 8)}] `
        : `[runner ${('runner_id' in l ? (l.runner_id ?? '') : '').slice(0, 8)}] `;
      ctx.out.line(`${l.timestamp} ${withRequest || !l.request_id ? who : ''}${l.message}`);
    }
  }
}

export const logsCommand: Command = {
  words: ['logs'],
  summary: "Show the log lines of an environment's requests (or one request); --follow for new ones",
  usage: '<owner/name> [--env E] [--request ID] [--follow] [--tail N]',
  examples: ['gantry logs acme/sdxl --follow', 'gantry logs acme/sdxl --request 0b6f9c8e-…'],
  options: {
    ...ENV_OPTION,
    request: { type: 'string', value: 'id', help: 'Only this request (with --follow: until it completes).' },
    ...followOptions('lines', 100),
  },
  args: { min: 1, max: 1 },
  async run(ctx, a) {
    const ref = parseAppRef(a.positionals[0], a.values.env);
    const api = await ctx.api();
    const follow = a.values.follow === true;
    // With --json, lines are printed one JSON object per line (NDJSON), so --follow can stream them.
    if (typeof a.values.request === 'string') {
      let after = 0;
      for (;;) {
        const r = await api.requestLogs(ref, a.values.request, { after });
        printLines(ctx, r.logs, false);
        if (r.logs.length > 0) after = r.logs[r.logs.length - 1]!.seq;
        if (!follow || r.status === 'COMPLETED') return;
        await sleep(500);
      }
    }
    const first = await api.environmentLogs(ref, { limit: tailLimit(a.values.tail, 100) });
    printLines(ctx, first.logs, true);
    if (!follow) {
      if (first.logs.length === 0 && !ctx.out.json) ctx.out.note(`No log lines in ${ref.env} yet.`);
      return;
    }
    let next = first.next;
    for (;;) {
      const r = await api.environmentLogs(ref, { after: next, wait_ms: FOLLOW_WAIT_MS, limit: 1000 });
      printLines(ctx, r.logs, true);
      next = r.next;
    }
  },
};
