import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sealRunnerToken } from '../../contract/src/runner-token-seal.ts';
import { loadConfig, RunnerConfigError } from './config.ts';

const base = {
  GANTRY_CONTROL_URL: 'http://127.0.0.1:8080',
  GANTRY_RUNNER_ID: 'run-1',
  GANTRY_RUNNER_TOKEN: 'secret',
  GANTRY_APP_COMMAND: '["node","app.js"]',
};

describe('loadConfig', () => {
  it('applies defaults and picks a free app port', async () => {
    const config = await loadConfig({ ...base, HOME: '/home/app' }, '/srv/app');
    expect(config).toMatchObject({
      controlUrl: 'http://127.0.0.1:8080',
      runnerId: 'run-1',
      token: 'secret',
      appCommand: ['node', 'app.js'],
      appCwd: '/srv/app',
      maxMultiplexing: 1,
      startupTimeoutS: 300,
      drainGraceS: 30,
    });
    expect(config.appPort).toBeGreaterThan(0);
    expect(config.appEnv['PORT']).toBe(String(config.appPort));
    expect(config.appEnv['HOME']).toBe('/home/app');
    expect(config.appEnv).not.toHaveProperty('GANTRY_RUNNER_TOKEN');
  });

  it("keeps the runner-only variables (control's AWS credentials) out of the app's env", async () => {
    const config = await loadConfig({
      ...base,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIACONTROL',
      AWS_SECRET_ACCESS_KEY: 'control-secret',
      MODEL_TOKEN: 'the app’s own secret',
      GANTRY_RUNNER_ONLY_ENV: 'AWS_REGION,AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY',
    });
    for (const name of [
      'AWS_REGION',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'GANTRY_RUNNER_ONLY_ENV',
    ]) {
      expect(config.appEnv, name).not.toHaveProperty(name);
    }
    expect(config.appEnv['MODEL_TOKEN']).toBe('the app’s own secret');
  });

  it('is frozen once parsed, nested values too: a later change throws', async () => {
    const config = await loadConfig({ ...base, GANTRY_APP_PORT: '8000' });
    expect(() => {
      (config as { maxMultiplexing: number }).maxMultiplexing = 64;
    }).toThrow(TypeError);
    expect(() => {
      (config.appEnv as Record<string, string>)['GANTRY_RUNNER_TOKEN'] = 'leaked';
    }).toThrow(TypeError);
    expect(() => (config.appCommand as string[]).push('--inspect')).toThrow(TypeError);
    expect(config.maxMultiplexing).toBe(1);
    expect(config.appEnv).not.toHaveProperty('GANTRY_RUNNER_TOKEN');
  });

  it('opens a sealed token with the runner key, and hands neither to the app', async () => {
    const key = randomBytes(32).toString('base64url');
    const { GANTRY_RUNNER_TOKEN: _, ...noToken } = base;
    const sealed = { ...noToken, GANTRY_RUNNER_TOKEN_SEALED: sealRunnerToken(key, 'run-1', 'tok-1') };
    const config = await loadConfig({ ...sealed, GANTRY_RUNNER_KEY: key });
    expect(config.token).toBe('tok-1');
    expect(Object.keys(config.appEnv).filter((k) => k.startsWith('GANTRY_RUNNER_'))).toEqual([
      'GANTRY_RUNNER_ID',
    ]);

    const problems = async (env: Record<string, string>) =>
      ((await loadConfig(env).catch((e: unknown) => e)) as RunnerConfigError).problems;
    expect(await problems(sealed)).toEqual([
      'GANTRY_RUNNER_TOKEN_SEALED is set but GANTRY_RUNNER_KEY is not: the token cannot be opened',
    ]);
    // Sealed for another runner (or under another environment's key): refused, not misused.
    expect(await problems({ ...sealed, GANTRY_RUNNER_ID: 'run-2', GANTRY_RUNNER_KEY: key })).toEqual([
      expect.stringContaining('does not open with this runner key'),
    ]);
    const other = randomBytes(32).toString('base64url');
    expect(await problems({ ...sealed, GANTRY_RUNNER_KEY: other })).toHaveLength(1);
  });

  it('takes the app output relayed on stdin only when asked, and names a wrong value', async () => {
    expect((await loadConfig(base)).appOutputOnStdin).toBe(false);
    const beside = { ...base, GANTRY_APP_COMMAND: '', GANTRY_APP_PORT: '8000' };
    expect((await loadConfig({ ...beside, GANTRY_APP_OUTPUT: 'stdin' })).appOutputOnStdin).toBe(true);
    const err = await loadConfig({ ...beside, GANTRY_APP_OUTPUT: 'file' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunnerConfigError);
    expect((err as RunnerConfigError).problems).toEqual([
      `GANTRY_APP_OUTPUT must be "stdin", "http" or unset (got 'file')`,
    ]);
    const http = await loadConfig({ ...beside, GANTRY_APP_OUTPUT: 'http', GANTRY_APP_OUTPUT_PORT: '24280' });
    expect(http.appOutputHttpPort).toBe(24280);
    const noPort = await loadConfig({ ...beside, GANTRY_APP_OUTPUT: 'http' }).catch((e: unknown) => e);
    expect((noPort as RunnerConfigError).problems).toEqual([
      'GANTRY_APP_OUTPUT_PORT is required when GANTRY_APP_OUTPUT is http',
    ]);
  });

  it('reads every setting', async () => {
    const config = await loadConfig({
      ...base,
      GANTRY_APP_CWD: '/srv',
      GANTRY_APP_PORT: '3000',
      GANTRY_MAX_MULTIPLEXING: '4',
      GANTRY_STARTUP_TIMEOUT: '12.5',
      GANTRY_DRAIN_GRACE: '0',
    });
    expect(config).toMatchObject({
      appCwd: '/srv',
      appPort: 3000,
      maxMultiplexing: 4,
      startupTimeoutS: 12.5,
      drainGraceS: 0,
    });
  });

  it('takes the deploy gate smoke request as JSON', async () => {
    const smoke = { path: '/predict', input: { x: 1 }, expect_status: 200 };
    expect((await loadConfig({ ...base, GANTRY_SMOKE_REQUEST: JSON.stringify(smoke) })).smoke).toEqual(smoke);
    expect((await loadConfig(base)).smoke).toBeUndefined();
  });

  it('needs an app port when the app runs beside the runner', async () => {
    const { GANTRY_APP_COMMAND: _, ...sidecar } = base;
    await expect(loadConfig(sidecar)).rejects.toThrow(
      /GANTRY_APP_PORT is required when GANTRY_APP_COMMAND is absent/,
    );
    const config = await loadConfig({ ...sidecar, GANTRY_APP_PORT: '8000' });
    expect(config.appCommand).toBeUndefined();
    expect(config.appPort).toBe(8000);
  });

  it('names every missing or invalid setting at once', async () => {
    const err = await loadConfig({
      GANTRY_CONTROL_URL: 'ftp://x',
      GANTRY_APP_COMMAND: 'node app.js',
      GANTRY_MAX_MULTIPLEXING: '0',
      GANTRY_STARTUP_TIMEOUT: 'soon',
      GANTRY_APP_PORT: '70000',
      GANTRY_SMOKE_REQUEST: '/predict',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunnerConfigError);
    const message = (err as Error).message;
    for (const name of [
      'GANTRY_CONTROL_URL must be an http(s) URL',
      'GANTRY_RUNNER_ID is required',
      'GANTRY_RUNNER_TOKEN is required',
      'GANTRY_APP_COMMAND must be a JSON array of strings',
      'GANTRY_MAX_MULTIPLEXING must be an integer from 1 to 100',
      "GANTRY_STARTUP_TIMEOUT must be a number of seconds above 0 (got 'soon')",
      'GANTRY_APP_PORT must be a port number',
      'GANTRY_SMOKE_REQUEST must be a JSON object {"path", "input", "expect_status"}',
    ]) {
      expect(message).toContain(name);
    }
  });
});
