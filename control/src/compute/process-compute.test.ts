import { describe, expect, it } from 'vitest';
import { inheritedEnv } from './process-compute.ts';

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
