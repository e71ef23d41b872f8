import { describe, expect, it } from 'vitest';
import { RunnerConfigError } from './config.ts';
import { adoptSecrets, withInheritedSecrets } from './inherited-secrets.ts';

describe('secrets on an inherited descriptor', () => {
  it('leave the environment as it is when the driver passes none', async () => {
    const env = { GANTRY_RUNNER_TOKEN: 'tok' };
    expect(await withInheritedSecrets(env)).toBe(env);
  });

  it('refuse a descriptor setting that is no descriptor number, naming it', async () => {
    for (const raw of ['x', '1', '-3', '3.5']) {
      const err = await withInheritedSecrets({ GANTRY_RUNNER_SECRETS_FD: raw }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RunnerConfigError);
      expect((err as RunnerConfigError).problems).toEqual([
        `GANTRY_RUNNER_SECRETS_FD must be a file descriptor number, 3 or more (got '${raw}')`,
      ]);
    }
  });

  it('are adopted into process.env for the SDK, all but the token, which is taken out', () => {
    const own: NodeJS.ProcessEnv = { PATH: '/bin', GANTRY_RUNNER_TOKEN: 'from-a-driver-env' };
    adoptSecrets(own, {
      GANTRY_RUNNER_TOKEN: 'tok',
      AWS_SECRET_ACCESS_KEY: 'aws',
      GANTRY_RUNNER_ONLY_ENV: 'GANTRY_RUNNER_TOKEN,AWS_SECRET_ACCESS_KEY',
    });
    expect(own).toEqual({ PATH: '/bin', AWS_SECRET_ACCESS_KEY: 'aws' });
  });
});
