/** `gantry login`: check a control URL and key, and keep them for later commands (mode 0600). */
import { ControlApiClient, ControlApiError } from '../../../contract/src/control-client.ts';
import { LOCAL_URL, loginFile, saveLogin } from '../cli-config.ts';
import type { Command } from '../command.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { readLine } from '../prompt.ts';

export const loginCommand: Command = {
  words: ['login'],
  summary: 'Save the control URL and a key for later commands',
  usage: '[--url URL] [--key KEY]   (without --key: asked for, or read from stdin)',
  examples: [
    'gantry login --url https://gantry.example.com',
    'echo "$GANTRY_ADMIN_KEY" | gantry login --url https://gantry.example.com',
  ],
  args: { min: 0, max: 0 },
  async run(ctx, a) {
    const url = (typeof a.values.url === 'string' ? a.values.url : (ctx.env.GANTRY_URL ?? LOCAL_URL)).replace(
      /\/+$/,
      '',
    );
    let key = typeof a.values.key === 'string' ? a.values.key : ctx.env.GANTRY_KEY;
    if (!key) key = await readLine(`Key for ${url}: `);
    if (!key) throw new CliError(EXIT.USAGE, 'No key given: pass --key, or type or pipe one in.');
    // A call that needs a key: ADMIN keys pass, API keys are known but refused (403).
    let scope = 'ADMIN';
    try {
      await new ControlApiClient({ url, key }).listKeys();
    } catch (err) {
      if (err instanceof ControlApiError && err.status === 403) scope = 'API';
      else if (err instanceof ControlApiError && err.status === 401) {
        throw new CliError(EXIT.AUTH, `${url} does not accept this key. Nothing saved.`);
      } else throw err;
    }
    const file = loginFile(ctx.env);
    await saveLogin(file, { url, key });
    if (ctx.out.json) return ctx.out.data({ url, scope, file });
    ctx.out.line(
      `Logged in to ${url} with an ${scope} key${scope === 'API' ? ' (it calls apps; management needs an ADMIN key)' : ''}. Saved in ${file}.`,
    );
  },
};
