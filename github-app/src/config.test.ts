import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitHubAppConfigError, loadConfig, loadMountedConfig, SETTINGS } from './config.ts';

const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----';
const CREDENTIALS = { APP_ID: '42', PRIVATE_KEY: PEM, WEBHOOK_SECRET: 'shh' };
const STANDALONE = { GANTRY_URL: 'http://control:8080', GANTRY_KEY: 'gk_admin_x' };

const problem = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GitHubAppConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a configuration error');
};

describe('the App mounted in control', () => {
  it('is off when no credential is set, and ignores control’s own settings', () => {
    expect(loadMountedConfig({ GANTRY_ADMIN_KEY: 'x', PORT: '8080' })).toBeUndefined();
  });

  it('reads the credentials, a one-line or base64 key included', () => {
    expect(loadMountedConfig({ ...CREDENTIALS, GHE_HOST: 'github.example.com' })).toEqual({
      appId: 42,
      privateKey: PEM,
      webhookSecret: 'shh',
      gheHost: 'github.example.com',
    });
    const oneLine = PEM.replace(/\n/g, '\\n');
    expect(loadMountedConfig({ ...CREDENTIALS, PRIVATE_KEY: oneLine })?.privateKey).toBe(PEM);
    const base64 = Buffer.from(PEM).toString('base64');
    expect(loadMountedConfig({ ...CREDENTIALS, PRIVATE_KEY: base64 })?.privateKey).toBe(PEM);
  });

  it('names every missing or invalid credential instead of silently serving no App', () => {
    const message = problem(() => loadMountedConfig({ APP_ID: 'abc', PRIVATE_KEY: 'not a key' }));
    expect(message).toContain('APP_ID must be a positive whole number, got "abc"');
    expect(message).toContain('PRIVATE_KEY is not a PEM private key');
    expect(message).toContain('WEBHOOK_SECRET is required');
  });
});

describe('the App on its own', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-app-config-'));
    await writeFile(path.join(dir, 'app.pem'), PEM);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('has defaults for all but control’s URL and key', () => {
    expect(loadConfig(STANDALONE, dir)).toEqual({
      controlUrl: 'http://control:8080',
      controlKey: 'gk_admin_x',
      publicUrl: 'http://control:8080',
      dataDir: path.join(dir, '.gantry'),
      port: 3000,
    });
  });

  it('reads the private key from PRIVATE_KEY_PATH, relative to the working folder', () => {
    const config = loadConfig(
      { ...STANDALONE, APP_ID: '42', PRIVATE_KEY_PATH: 'app.pem', WEBHOOK_SECRET: 'shh' },
      dir,
    );
    expect(config.github?.privateKey).toBe(PEM);
    const message = problem(() =>
      loadConfig(
        { ...STANDALONE, APP_ID: '42', PRIVATE_KEY_PATH: 'missing.pem', WEBHOOK_SECRET: 'shh' },
        dir,
      ),
    );
    expect(message).toContain('PRIVATE_KEY_PATH: cannot read missing.pem (ENOENT)');
  });

  it('names every missing, invalid and unknown setting at once', () => {
    const message = problem(() =>
      loadConfig({ PORT: 'eighty', GANTRY_PUBLIK_URL: 'x', GANTRY_PUBLIC_URL: 'nope' }, dir),
    );
    expect(message).toContain('GANTRY_URL (where control is) is required');
    expect(message).toContain('GANTRY_KEY (an admin key of control) is required');
    expect(message).toContain('PORT must be a whole number from 0 to 65535, got "eighty"');
    expect(message).toContain('GANTRY_PUBLIK_URL is not a setting of the GitHub App');
    expect(message).toContain('GANTRY_PUBLIC_URL must be a URL, got "nope"');
  });

  it('every setting is documented in the README', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## The GitHub App'));
    for (const name of SETTINGS) expect(section, name).toContain(`\`${name}\``);
  });
});
