import { describe, expect, it } from 'vitest';
import type { Revision } from '../domain.ts';
import { inheritedEnv, runnerLaunch } from './process-compute.ts';

describe('what a local runner inherits from control', () => {
  it("keeps what programs need and the AWS settings, drops control's secrets and settings", () => {
    const env = inheritedEnv({
      PATH: '/usr/bin',
      HOME: '/home/me',
      LANG: 'C.UTF-8',
      AWS_REGION: 'eu-west-1',
      AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:4566',
      PRIVATE_KEY: '-----BEGIN RSA PRIVATE KEY-----',
      WEBHOOK_SECRET: 'shh',
      APP_ID: '123',
      DATABASE_URL: 'postgres://u:p@db/gantry',
      GANTRY_ADMIN_KEY: 'gk_admin_x',
      GANTRY_SECRETS_KEY: 'k',
      PGPASSWORD: 'p',
      PORT: '8080',
      UNDEFINED: undefined,
    });
    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/me',
      LANG: 'C.UTF-8',
      AWS_REGION: 'eu-west-1',
      AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:4566',
    });
  });
});

describe("a local runner's environment", () => {
  it("passes the token and control's AWS settings apart from the environment; the app's own stay its own", () => {
    const revision = {
      number: 1,
      command: ['node', 'app.js'],
      settings: { max_multiplexing: 1, startup_timeout: 30 },
    } as unknown as Revision;
    const { env, secrets } = runnerLaunch(
      {
        runnerId: 'r1',
        token: 't',
        controlUrl: 'http://127.0.0.1:1',
        environmentId: 'e1',
        revision,
        env: { AWS_PROFILE: 'the-apps-own', MODEL: 'm' },
      },
      {
        PATH: '/usr/bin',
        AWS_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: 'AKIACONTROL',
        AWS_SECRET_ACCESS_KEY: 'control-secret',
        AWS_PROFILE: 'control',
      },
    );
    // The runner polls SQS with control's settings; none is in its exec environment.
    expect(secrets).toEqual({
      GANTRY_RUNNER_TOKEN: 't',
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIACONTROL',
      AWS_SECRET_ACCESS_KEY: 'control-secret',
    });
    for (const name of Object.keys(secrets)) expect(env, name).not.toHaveProperty(name);
    expect(env['AWS_PROFILE']).toBe('the-apps-own');
    expect(env['MODEL']).toBe('m');
  });
});
