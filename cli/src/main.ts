/**
 * `gantry`: manage Gantry from a terminal. Parses the command line, runs one command, and turns
 * every failure into a message and an exit code (see exit-codes.ts); a stack trace is printed only
 * for a bug, with GANTRY_DEBUG=1.
 */
import { homedir } from 'node:os';
import { ControlApiClient } from '../../contract/src/control-client.ts';
import { parseCommandLine } from './args.ts';
import { type CliConfig, readTextFile, resolveConfig } from './cli-config.ts';
import type { Context } from './command.ts';
import { COMMANDS } from './commands/index.ts';
import { cliErrorFrom } from './control-errors.ts';
import { CliError, EXIT } from './exit-codes.ts';
import { commandHelp, groupHelp, mainHelp } from './help.ts';
import { createOutput } from './output.ts';

export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  let json = argv.includes('--json');
  try {
    const parsed = parseCommandLine(argv, COMMANDS);
    if (parsed.kind === 'help') {
      const text = parsed.command
        ? commandHelp(parsed.command)
        : parsed.group
          ? groupHelp(parsed.group, COMMANDS)
          : mainHelp(COMMANDS);
      process.stdout.write(text);
      return EXIT.OK;
    }
    const { command, args } = parsed;
    json = args.values.json === true;
    const out = createOutput(json);
    let config: Promise<CliConfig> | undefined;
    const ctx: Context = {
      out,
      env,
      config: () => {
        config ??= resolveConfig({
          flags: {
            url: typeof args.values.url === 'string' ? args.values.url : undefined,
            key: typeof args.values.key === 'string' ? args.values.key : undefined,
          },
          env,
          cwd: process.cwd(),
          home: homedir(),
          readText: readTextFile,
        });
        return config;
      },
      api: async () => {
        const c = await ctx.config();
        return new ControlApiClient({ url: c.url, ...(c.key ? { key: c.key } : {}) });
      },
    };
    try {
      await command.run(ctx, args);
    } catch (err) {
      throw cliErrorFrom(err, config ? (await config.catch(() => undefined))?.key !== undefined : false);
    }
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CliError) {
      if (json) process.stdout.write(`${JSON.stringify({ error: err.message, exit_code: err.exitCode })}\n`);
      process.stderr.write(`gantry: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`gantry: unexpected error: ${(err as Error).message}\n`);
    if (env.GANTRY_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    else
      process.stderr.write(
        'This is a bug in gantry; run again with GANTRY_DEBUG=1 for details and report it.\n',
      );
    return EXIT.FAILURE;
  }
}

process.exitCode = await main(process.argv.slice(2), process.env);
