/** `gantry logs`: the log lines of an environment's requests, or of one request; --follow keeps going. */

import { setTimeout as sleep } from 'node:timers/promises';
import type { LogLine } from '../../../contract/src/management-api.ts';
import { parseAppRef } from '../args.ts';
import { type Command, type Context, ENV_OPTION } from '../command.ts';

const FOLLOW_WAIT_MS = 10_000;

function printLines(ctx: Context, lines: LogLine[], withRequest: boolean): void {
  for (const l of lines) {
    if (ctx.out.json) ctx.out.line(JSON.stringify(l));
    else ctx.out.line(`${l.timestamp} ${withRequest ? `[${l.request_id.slice(0, 8)}] ` : ''}${l.message}`);
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
    follow: { type: 'boolean', short: 'f', help: 'Keep printing new lines (Ctrl-C to stop).' },
    tail: { type: 'string', value: 'N', help: 'How many recent lines to start with (default 100).' },
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
    const tail = Number(typeof a.values.tail === 'string' ? a.values.tail : 100);
    const first = await api.environmentLogs(ref, {
      limit: Number.isInteger(tail) && tail > 0 ? Math.min(tail, 1000) : 100,
    });
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
