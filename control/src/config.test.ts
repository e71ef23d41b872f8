import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig, SETTINGS } from './config.ts';

describe('loadConfig', () => {
  it('has working defaults with an empty environment', () => {
    const c = loadConfig({}, '/srv');
    expect(c.port).toBe(8080);
    expect(c.dataDir).toBe('/srv/.gantry');
    expect(c.bodyLimit).toBe(10 * 1024 * 1024);
    expect(c.databaseUrl).toBeUndefined();
  });

  it('reads settings', () => {
    const c = loadConfig({ PORT: '9000', GANTRY_DATA_DIR: '/data', GANTRY_DEPLOY_EXAMPLE: 'false' }, '/srv');
    expect(c).toMatchObject({ port: 9000, dataDir: '/data', deployExample: false });
  });

  it('is frozen once parsed, nested values too: a later change throws', () => {
    const c = loadConfig({ GANTRY_ECS_SUBNETS: 'subnet-a,subnet-b' }, '/srv');
    expect(() => {
      (c as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => (c.ecsSubnets as string[]).push('subnet-c')).toThrow(TypeError);
    expect(c.port).toBe(8080);
    expect(c.ecsSubnets).toEqual(['subnet-a', 'subnet-b']);
  });

  it('names every bad setting at once', () => {
    expect(() => loadConfig({ PORT: 'eighty', GANTRY_BODY_LIMIT: '1', GANTRY_TYPO: 'x' })).toThrow(
      /PORT must be a whole number[\s\S]*GANTRY_BODY_LIMIT must be a whole number[\s\S]*GANTRY_TYPO is not a setting/,
    );
  });

  it('every setting is documented in the README with its default', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const s of Object.values(SETTINGS)) expect(readme, s.env).toContain(`\`${s.env}\``);
  });
});
