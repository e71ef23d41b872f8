import { describe, expect, it } from 'vitest';
import { parseCommand } from './comment-commands.ts';

describe('parseCommand', () => {
  it.each([
    ['/gantry rollback', { kind: 'rollback', environment: 'production' }],
    ['/gantry rollback staging', { kind: 'rollback', environment: 'staging' }],
    ['/gantry rollback to 3', { kind: 'rollback', environment: 'production', to: 3 }],
    ['/gantry rollback staging to 2\nbecause it broke', { kind: 'rollback', environment: 'staging', to: 2 }],
    ['/gantry deploy pr-4', { kind: 'deploy', environment: 'pr-4' }],
    ['/gantry status', { kind: 'status' }],
    ['/gantry', { kind: 'help' }],
    [
      '/gantry scale staging keep_alive=30 max_concurrency=4',
      {
        kind: 'scale',
        environment: 'staging',
        settings: { keep_alive: 30, max_concurrency: 4 },
      },
    ],
  ])('%s', (body, command) => {
    expect(parseCommand(body)).toEqual({ ok: true, command });
  });

  it.each([
    '/gantry rollback to',
    '/gantry rollback to -1',
    '/gantry deploy',
    '/gantry deploy a b',
    '/gantry scale production',
    '/gantry scale production keep_alive',
    '/gantry status now',
    '/gantry frobnicate',
  ])('%s is a bad command', (body) => {
    const r = parseCommand(body);
    expect(r.ok === false && typeof r.problem).toBe('string');
  });

  it('is not a command unless the first line starts with /gantry', () => {
    expect(parseCommand('LGTM\n/gantry rollback')).toEqual({ ok: false, problem: undefined });
    expect(parseCommand('/gantryfoo')).toEqual({ ok: false, problem: undefined });
  });
});
