import { describe, expect, it } from 'vitest';
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

  it('takes the app output relayed on stdin only when asked, and names a wrong value', async () => {
    expect((await loadConfig(base)).appOutputOnStdin).toBe(false);
    const beside = { ...base, GANTRY_APP_COMMAND: '', GANTRY_APP_PORT: '8000' };
    expect((await loadConfig({ ...beside, GANTRY_APP_OUTPUT: 'stdin' })).appOutputOnStdin).toBe(true);
    const err = await loadConfig({ ...beside, GANTRY_APP_OUTPUT: 'file' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunnerConfigError);
    expect((err as RunnerConfigError).problems).toEqual([
      `GANTRY_APP_OUTPUT must be "stdin" or unset (got 'file')`,
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
    ]) {
      expect(message).toContain(name);
    }
  });
});
