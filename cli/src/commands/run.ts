/**
 * `gantry run`: submit a request through the fal queue API, stream its status and logs, print the
 * result. Ctrl-C cancels the request.
 */
import { ControlApiClient } from '../../../contract/src/control-client.ts';
import { parseAppRef } from '../args.ts';
import { type Command, ENV_OPTION } from '../command.ts';
import { CliError, EXIT, usageError } from '../exit-codes.ts';
import { createProgress } from '../progress.ts';

interface Submitted {
  request_id: string;
  status_url: string;
  response_url: string;
  cancel_url: string;
}

interface StatusEvent {
  status: string;
  queue_position?: number;
  logs?: { message: string }[];
  error?: string;
  /** Why a queued request may wait long: "runners are crash-looping: …". */
  warning?: string;
}

export const runCommand: Command = {
  words: ['run'],
  summary: 'Call an app: submit, stream status and logs until done, print the result',
  usage: '<owner/name> --input JSON [--path P] [--env E]',
  examples: [`gantry run local/hello --input '{"name":"Ada"}'`],
  options: {
    input: { type: 'string', short: 'i', value: 'json', help: 'The input, as JSON (default {}).' },
    path: { type: 'string', value: 'path', help: 'Endpoint path inside the app (default the root).' },
    ...ENV_OPTION,
  },
  args: { min: 1, max: 1 },
  async run(ctx, a) {
    const ref = parseAppRef(a.positionals[0], a.values.env);
    let input: unknown = {};
    if (typeof a.values.input === 'string') {
      try {
        input = JSON.parse(a.values.input);
      } catch (err) {
        throw usageError(`--input is not valid JSON: ${(err as Error).message}`);
      }
    }
    const api = await ctx.api();
    const id = `${ref.owner}/${ref.name}${ref.env === 'production' ? '' : `--${ref.env}`}`;
    const sub = typeof a.values.path === 'string' ? `/${a.values.path.replace(/^\/+/, '')}` : '';
    const answer = await api.send('POST', `/queue/${id}${sub}`, { body: input });
    const sent: unknown = await answer.json().catch(() => undefined);
    if (!answer.ok) throw ControlApiClient.errorFrom(answer.status, sent);
    const submitted = sent as Submitted;
    const rid = submitted.request_id;
    const base = `/queue/${id}/requests/${rid}`;
    const progress = createProgress({ quiet: ctx.out.json });
    if (!ctx.out.json) ctx.out.note(`Request ${rid}`);

    const stop = new AbortController();
    const onSigint = () => {
      stop.abort();
      void api.send('PUT', `${base}/cancel`).finally(() => {
        progress.done(`Cancelled ${rid}.`);
        process.exit(130);
      });
    };
    process.once('SIGINT', onSigint);
    try {
      const res = await api.send('GET', `${base}/status/stream`, { query: { logs: 1 }, signal: stop.signal });
      if (!res.ok || !res.body) {
        throw ControlApiClient.errorFrom(res.status, await res.json().catch(() => undefined));
      }
      const decoder = new TextDecoder();
      let buffer = '';
      let warned = '';
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
          const data = event
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trim())
            .join('\n');
          if (!data) continue;
          const s = JSON.parse(data) as StatusEvent;
          for (const l of s.logs ?? []) {
            progress.done();
            if (!ctx.out.json) ctx.out.note(`  ${l.message}`);
          }
          if (s.warning && s.warning !== warned) {
            warned = s.warning;
            progress.done();
            ctx.out.note(`  ${s.warning}`);
          }
          progress.update(
            s.status === 'IN_QUEUE'
              ? `queued (position ${s.queue_position ?? 0})${s.warning ? ' — runners are crash-looping' : ''}`
              : s.status.toLowerCase().replace('_', ' '),
          );
        }
      }
    } finally {
      process.off('SIGINT', onSigint);
      progress.done();
    }
    const res = await api.send('GET', base);
    const text = await res.text();
    let result: unknown = text;
    try {
      result = JSON.parse(text);
    } catch {
      // Not JSON: print as the app sent it.
    }
    if (ctx.out.json) ctx.out.data({ request_id: rid, status: res.status, result });
    else ctx.out.line(typeof result === 'string' ? result : JSON.stringify(result, null, 2));
    if (res.status >= 400) {
      const type = res.headers.get('x-fal-error-type');
      throw new CliError(
        EXIT.FAILURE,
        `Request ${rid} failed with HTTP ${res.status}${type ? ` (${type})` : ''}.`,
      );
    }
  },
};
