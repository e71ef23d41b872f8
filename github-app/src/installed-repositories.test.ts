import { describe, expect, it } from 'vitest';
import { installedRepositories } from './installed-repositories.ts';

describe('installedRepositories', () => {
  const gitHub = (installedOn: string[], status = 404) => {
    const calls: string[] = [];
    const client = {
      async request(_route: string, p: Record<string, unknown>) {
        const repo = `${String(p['owner'])}/${String(p['repo'])}`;
        calls.push(repo);
        if (installedOn.includes(repo)) return { status: 200 };
        throw Object.assign(new Error(`GitHub answered ${status}`), { status });
      },
    };
    return { calls, client: async () => client };
  };

  it('says yes where GitHub has an installation of the App (names ignore case), no on a 404', async () => {
    const gh = gitHub(['acme/app']);
    const allowed = installedRepositories(gh.client, () => 0);
    expect(await allowed('Acme/App')).toBe(true);
    expect(await allowed('mallory/app')).toBe(false);
    expect(gh.calls).toEqual(['acme/app', 'mallory/app']);
  });

  it('keeps an answer a minute', async () => {
    const gh = gitHub([]);
    let now = 0;
    const allowed = installedRepositories(gh.client, () => now);
    await allowed('acme/app');
    now = 59_000;
    await allowed('acme/app');
    expect(gh.calls).toHaveLength(1);
    now = 61_000;
    await allowed('acme/app');
    expect(gh.calls).toHaveLength(2);
  });

  it('rejects when GitHub cannot say (not a 404), and keeps nothing', async () => {
    const gh = gitHub([], 502);
    const allowed = installedRepositories(gh.client, () => 0);
    await expect(allowed('acme/app')).rejects.toThrow(/502/);
    await expect(allowed('acme/app')).rejects.toThrow(/502/);
    expect(gh.calls).toHaveLength(2);
  });
});
