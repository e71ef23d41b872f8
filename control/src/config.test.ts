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

  it('GANTRY_BUILD_REPOSITORIES: owners, repositories or *; anything else named', () => {
    expect(loadConfig({ GANTRY_BUILD_REPOSITORIES: 'acme, other/models' }).buildRepositories).toEqual([
      'acme',
      'other/models',
    ]);
    expect(loadConfig({ GANTRY_BUILD_REPOSITORIES: '*' }).buildRepositories).toEqual(['*']);
    expect(loadConfig({}).buildRepositories).toEqual([]);
    expect(() => loadConfig({ GANTRY_BUILD_REPOSITORIES: 'acme/*' })).toThrow(/GANTRY_BUILD_REPOSITORIES/);
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

  it('docker compute needs nothing but the engine, found as Docker finds it, and names what is wrong', () => {
    const c = loadConfig({ GANTRY_COMPUTE: 'docker' }, '/srv');
    expect(c).toMatchObject({
      compute: 'docker',
      dockerHost: 'unix:///var/run/docker.sock',
      dockerGpus: 0,
      dockerNetwork: 'host',
    });
    expect(c.dockerRunnerImage).toBeUndefined();
    expect(() =>
      loadConfig({
        GANTRY_COMPUTE: 'docker',
        DOCKER_HOST: '/var/run/docker.sock',
        GANTRY_DOCKER_GPUS: 'two',
      }),
    ).toThrow(
      /DOCKER_HOST must be unix:\/\/\/path\/to\/socket or tcp:\/\/host:port, got "\/var\/run\/docker.sock"[\s\S]*GANTRY_DOCKER_GPUS must be a whole number/,
    );
    expect(() => loadConfig({ GANTRY_COMPUTE: 'docker', GANTRY_DOCKER_NETWORK: 'gantry' })).toThrow(
      'GANTRY_CONTROL_URL is required when GANTRY_DOCKER_NETWORK is not host',
    );
  });

  it('every setting is documented in the README with its default', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const s of Object.values(SETTINGS)) expect(readme, s.env).toContain(`\`${s.env}\``);
  });
});
