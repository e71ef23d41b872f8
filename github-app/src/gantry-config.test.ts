import { describe, expect, it } from 'vitest';
import { environmentForBranch } from './branch-environments.ts';
import { parseGantryConfig, requiredPermission } from './gantry-config.ts';

describe('parseGantryConfig', () => {
  it('fills defaults: main → production, staging → staging, private, previews off', () => {
    const r = parseGantryConfig('app: sd\n');
    expect(r).toEqual({
      ok: true,
      config: {
        app: 'sd',
        auth: 'private',
        branches: { main: 'production', staging: 'staging' },
        previews: { enabled: false, expireAfterHours: 168 },
        code: {},
        scaling: {},
        environments: {},
        permissions: { rollback: 'write', deploy: 'write', scale: 'write', status: 'read' },
      },
    });
  });

  it('takes machine_type as a string or a list', () => {
    const r = parseGantryConfig('app: sd\nmachine_type: GPU-H100\nmax_multiplexing: 2\n');
    expect(r.ok && r.config.code).toEqual({ machine_type: ['GPU-H100'], max_multiplexing: 2 });
  });

  it('takes a smoke request for the deploy gate, sent with the revision; a wrong one is reported on its line', () => {
    const r = parseGantryConfig(
      'app: sd\nsmoke:\n  path: /predict\n  input: { prompt: a cat }\n  expect_status: 200\n',
    );
    expect(r.ok && r.config.code).toEqual({
      smoke: { path: '/predict', input: { prompt: 'a cat' }, expect_status: 200 },
    });
    const bad = parseGantryConfig('app: sd\nsmoke:\n  path: /predict\n  status: 200\n');
    expect(bad.ok === false && bad.problems).toEqual([
      { message: '`smoke` has an unknown key `status`', line: 4, endLine: 4 },
    ]);
  });

  it('reports each problem with its line', () => {
    const r = parseGantryConfig(
      'app: Bad_Name\nauth: secret\nenvironments:\n  production:\n    permission: god\n',
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toEqual([
      { message: '`app` must be lower-case letters, digits and single dashes', line: 1, endLine: 1 },
      { message: '`auth` must be one of "private", "public", "shared"', line: 2, endLine: 2 },
      {
        message:
          '`environments.production.permission` must be one of "read", "triage", "write", "maintain", "admin"',
        line: 5,
        endLine: 5,
      },
    ]);
  });

  it('needs an app name', () => {
    const r = parseGantryConfig('auth: public\n');
    expect(r.ok === false && r.problems[0]).toEqual({ message: 'the file needs `app`', line: 1, endLine: 1 });
  });

  it('an environment may ask for more than the command does, never less', () => {
    const r = parseGantryConfig(
      'app: sd\npermissions:\n  rollback: maintain\nenvironments:\n  production:\n    permission: admin\n  staging:\n    permission: read\n',
    );
    if (!r.ok) throw new Error('invalid');
    expect(requiredPermission(r.config, 'rollback', 'production')).toBe('admin');
    expect(requiredPermission(r.config, 'rollback', 'staging')).toBe('maintain');
    expect(requiredPermission(r.config, 'status')).toBe('read');
  });
});

describe('environmentForBranch', () => {
  const r = parseGantryConfig(
    'app: sd\nbranches:\n  main: production\n  "release/*": staging\n  "exp/**": experiments\n',
  );
  if (!r.ok) throw new Error('invalid');
  it('maps exact names and globs; * stays within a segment, ** crosses them', () => {
    expect(environmentForBranch(r.config, 'main')).toBe('production');
    expect(environmentForBranch(r.config, 'release/1.2')).toBe('staging');
    expect(environmentForBranch(r.config, 'release/1.2/hotfix')).toBeUndefined();
    expect(environmentForBranch(r.config, 'exp/a/b')).toBe('experiments');
    expect(environmentForBranch(r.config, 'staging')).toBeUndefined();
  });
});
