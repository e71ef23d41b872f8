import { describe, expect, it } from 'vitest';
import { parseAppRef, parseAssignments, parseCommandLine, splitFreeOptions } from './args.ts';
import { tailLimit } from './command.ts';
import { COMMANDS } from './commands/index.ts';
import { CliError, EXIT } from './exit-codes.ts';

const usage = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.USAGE);
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
};

describe('parseCommandLine', () => {
  it('finds two-word commands and parses their options', () => {
    const p = parseCommandLine(['secrets', 'set', 'acme/a', 'A=1', '--env', 'staging', '--json'], COMMANDS);
    expect(p.kind).toBe('run');
    if (p.kind !== 'run') return;
    expect(p.command.words).toEqual(['secrets', 'set']);
    expect(p.args.positionals).toEqual(['acme/a', 'A=1']);
    expect(p.args.values).toMatchObject({ env: 'staging', json: true });
  });

  it('answers help for nothing, a group, or --help', () => {
    expect(parseCommandLine([], COMMANDS)).toEqual({ kind: 'help' });
    expect(parseCommandLine(['keys'], COMMANDS)).toEqual({ kind: 'help', group: 'keys' });
    expect(parseCommandLine(['rollback', '--help'], COMMANDS)).toMatchObject({
      kind: 'help',
      command: { words: ['rollback'] },
    });
  });

  it('names what is wrong: unknown command, subcommand, option, missing arguments', () => {
    expect(usage(() => parseCommandLine(['deplyo'], COMMANDS))).toMatch(/Unknown command "deplyo"/);
    expect(usage(() => parseCommandLine(['keys', 'rotate'], COMMANDS))).toMatch(
      /keys has: create, list, revoke/,
    );
    expect(usage(() => parseCommandLine(['apps', 'list', '--bogus'], COMMANDS))).toMatch(/--bogus/);
    expect(usage(() => parseCommandLine(['rollback'], COMMANDS))).toMatch(
      /Usage: gantry rollback <owner\/name>/,
    );
  });
});

describe('argument shapes', () => {
  it('reads app references with an optional --env suffix; the flag wins', () => {
    expect(parseAppRef('acme/sd')).toEqual({ owner: 'acme', name: 'sd', env: 'production' });
    expect(parseAppRef('acme/sd--pr-4')).toEqual({ owner: 'acme', name: 'sd', env: 'pr-4' });
    expect(parseAppRef('acme/sd--pr-4', 'staging').env).toBe('staging');
    expect(usage(() => parseAppRef('sd'))).toMatch(/owner\/name/);
  });

  it('reads NAME=VALUE pairs without ever echoing a value', () => {
    expect(parseAssignments(['A=1', 'B=x=y', 'C='])).toEqual({ A: '1', B: 'x=y', C: '' });
    const msg = usage(() => parseAssignments(['A=1', 'hunter2']));
    expect(msg).toMatch(/pair 2 has no "="/);
    expect(msg).not.toContain('hunter2');
  });

  it('reads free-form settings for scale', () => {
    expect(
      splitFreeOptions(
        ['acme/a', '--keep-alive', '30', '--max_concurrency=4', '--json', '-e', 'staging'],
        [],
      ),
    ).toEqual({
      values: { keep_alive: '30', max_concurrency: '4', json: true, env: 'staging' },
      positionals: ['acme/a'],
    });
    expect(usage(() => splitFreeOptions(['--keep-alive'], []))).toMatch(/needs a value/);
  });
});

describe('tailLimit', () => {
  it('takes a positive whole number up to 1000, and the default for anything else', () => {
    expect(tailLimit('20', 50)).toBe(20);
    expect(tailLimit('5000', 50)).toBe(1000);
    expect(tailLimit(undefined, 50)).toBe(50);
    expect(tailLimit('0', 100)).toBe(100);
    expect(tailLimit('2.5', 100)).toBe(100);
    expect(tailLimit('many', 100)).toBe(100);
  });
});
