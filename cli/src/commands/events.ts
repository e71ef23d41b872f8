/**
 * `gantry events`: what happened to an environment (runner state changes with reasons, rollouts
 * with who and why, deploys, scaling changes, crash loops, dead letters); --follow streams new
 * ones as they happen (server-sent events, resumed after a dropped connection).
 */

import type { EventView } from '../../../contract/src/management-api.ts';
import { parseAppRef } from '../args.ts';
import { type Command, type Context, ENV_OPTION, followOptions, tailLimit } from '../command.ts';

function print(ctx: Context, e: EventView): void {
  if (ctx.out.json) ctx.out.line(JSON.stringify(e));
  else ctx.out.line(`${e.at}  ${e.type.padEnd(21)} ${e.message}`);
}

/** Waits between reconnects of --follow; the stream resumes from the last event seen. */
const RECONNECT_MS = 2_000;

export const eventsCommand: Command = {
  words: ['events'],
  summary: 'Show what happened to an environment: runners, rollouts, deploys, scaling; --follow for new ones',
  usage: '<owner/name> [--env E] [--follow] [--tail N]',
  examples: ['gantry events acme/sdxl --follow', 'gantry events acme/sdxl --env staging --tail 20'],
  options: {
    ...ENV_OPTION,
    ...followOptions('events', 50),
  },
  args: { min: 1, max: 1 },
  async run(ctx, a) {
    const ref = parseAppRef(a.positionals[0], a.values.env);
    const api = await ctx.api();
    const first = await api.events(ref, { limit: tailLimit(a.values.tail, 50) });
    for (const e of first.events) print(ctx, e);
    if (a.values.follow !== true) {
      if (first.events.length === 0 && !ctx.out.json) ctx.out.note(`Nothing has happened in ${ref.env} yet.`);
      return;
    }
    let after = first.next;
    for (;;) {
      const res = await api.followEvents(ref, after);
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of res.body!) {
          buffer += decoder.decode(chunk as Uint8Array, { stream: true });
          let end = buffer.indexOf('\n\n');
          while (end >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            end = buffer.indexOf('\n\n');
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (!data) continue;
            const e = JSON.parse(data) as EventView;
            print(ctx, e);
            after = e.seq;
          }
        }
      } catch {
        // The connection dropped (control restarted, a proxy timed out): resume from `after`.
      }
      await new Promise((r) => setTimeout(r, RECONNECT_MS));
    }
  },
};
