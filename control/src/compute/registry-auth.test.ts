import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RegistryAuth, registryOf } from './registry-auth.ts';

const decode = (header: string | undefined) =>
  header === undefined ? undefined : JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));

describe('registry credentials from the Docker client configuration', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const configFile = async (text: string) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gantry-docker-config-'));
    dirs.push(dir);
    await writeFile(path.join(dir, 'config.json'), text);
    return path.join(dir, 'config.json');
  };

  it('names the registry of an image as Docker does', () => {
    expect(registryOf('123.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:ab')).toBe(
      '123.dkr.ecr.eu-west-1.amazonaws.com',
    );
    expect(registryOf('127.0.0.1:5000/acme/hello:1')).toBe('127.0.0.1:5000');
    expect(registryOf('localhost/gantry-runner:1')).toBe('localhost');
    expect(registryOf('acme/hello')).toBe('docker.io');
    expect(registryOf('node:24')).toBe('docker.io');
  });

  it('sends the auths entry of the image registry (docker login), and nothing for other registries', async () => {
    const auth = await RegistryAuth.load(
      await configFile(
        JSON.stringify({
          auths: {
            'ghcr.io': { auth: Buffer.from('octocat:s3cr:et').toString('base64') },
            'https://index.docker.io/v1/': { username: 'hubuser', password: 'hubpass' },
          },
        }),
      ),
    );
    expect(decode(auth.header('ghcr.io/acme/app@sha256:00'))).toEqual({
      username: 'octocat',
      password: 's3cr:et',
      serveraddress: 'ghcr.io',
    });
    expect(decode(auth.header('acme/app:1'))).toMatchObject({ username: 'hubuser', password: 'hubpass' });
    expect(auth.header('quay.io/acme/app:1')).toBeUndefined();
  });

  it('a missing file means no credentials; a broken one is an error naming it', async () => {
    const none = await RegistryAuth.load(path.join(tmpdir(), 'gantry-no-such-dir', 'config.json'));
    expect(none.header('ghcr.io/a/b:1')).toBeUndefined();
    const broken = await configFile('{ not json');
    await expect(RegistryAuth.load(broken)).rejects.toThrow(`${broken} is not valid JSON`);
  });
});
