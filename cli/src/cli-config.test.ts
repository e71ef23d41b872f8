import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ConfigSources, loginFile, readTextFile, resolveConfig, saveLogin } from './cli-config.ts';

function sources(o: Partial<ConfigSources> & { files?: Record<string, string> } = {}): ConfigSources {
  const files = o.files ?? {};
  return {
    flags: o.flags ?? {},
    env: o.env ?? {},
    cwd: o.cwd ?? '/work/app',
    home: o.home ?? '/home/ada',
    readText: async (f) => files[f],
  };
}
const LOGIN = '/home/ada/.config/gantry/config.json';

describe('resolveConfig', () => {
  it('takes flags over GANTRY_URL/GANTRY_KEY over the login file over the local admin.key', async () => {
    const files = {
      [LOGIN]: JSON.stringify({ url: 'https://saved.example', key: 'saved-key' }),
      '/work/app/.gantry/admin.key': 'local-admin\n',
    };
    const env = { GANTRY_URL: 'https://env.example', GANTRY_KEY: 'env-key' };
    expect(
      await resolveConfig(sources({ files, env, flags: { url: 'https://flag.example/', key: 'flag-key' } })),
    ).toEqual({
      url: 'https://flag.example',
      key: 'flag-key',
      urlSource: 'flag',
      keySource: 'flag',
    });
    expect(await resolveConfig(sources({ files, env }))).toMatchObject({
      url: 'https://env.example',
      key: 'env-key',
    });
    expect(await resolveConfig(sources({ files }))).toMatchObject({
      url: 'https://saved.example',
      key: 'saved-key',
      keySource: 'file',
    });
    expect(
      await resolveConfig(sources({ files: { '/work/app/.gantry/admin.key': 'local-admin\n' } })),
    ).toEqual({
      url: 'http://127.0.0.1:8080',
      key: 'local-admin',
      urlSource: 'local',
      keySource: 'admin.key',
    });
  });

  it("never sends a saved or local key to another control's URL", async () => {
    const files = {
      [LOGIN]: JSON.stringify({ url: 'https://saved.example', key: 'saved-key' }),
      '/work/app/.gantry/admin.key': 'local-admin',
    };
    expect(
      await resolveConfig(sources({ files, env: { GANTRY_URL: 'https://other.example' } })),
    ).toMatchObject({
      key: undefined,
      keySource: 'none',
    });
  });

  it('respects XDG_CONFIG_HOME and GANTRY_DATA_DIR', async () => {
    expect(loginFile({ XDG_CONFIG_HOME: '/cfg' }, '/home/ada')).toBe('/cfg/gantry/config.json');
    expect(loginFile({ XDG_CONFIG_HOME: 'relative' }, '/home/ada')).toBe(LOGIN);
    const files = { '/srv/data/admin.key': 'k' };
    expect(await resolveConfig(sources({ files, env: { GANTRY_DATA_DIR: '/srv/data' } }))).toMatchObject({
      key: 'k',
    });
  });

  it('saves the login file with mode 0600', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gantry-cli-'));
    try {
      const file = loginFile({ XDG_CONFIG_HOME: dir });
      await saveLogin(file, { url: 'http://x', key: 'k' });
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ url: 'http://x', key: 'k' });
      expect(await readTextFile(path.join(dir, 'missing'))).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
