/**
 * Registry credentials for pulls, from the standard Docker client configuration
 * (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`): the `auths` entries `docker login`
 * writes. Credential helpers (`credsStore`, `credHelpers`) run programs and are not supported; an
 * image on such a registry is pulled without credentials and the registry's refusal is reported.
 */
import { readFile } from 'node:fs/promises';

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

const DOCKER_HUB = 'https://index.docker.io/v1/';

/** The registry part of an image reference, as Docker reads it (`docker.io` when none is named). */
export function registryOf(image: string): string {
  const first = image.split('/')[0] ?? '';
  const named = image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return named ? first : 'docker.io';
}

export class RegistryAuth {
  private constructor(private readonly auths: Record<string, AuthEntry>) {}

  /** Reads the file once; a missing file means no credentials, a broken one is an error naming it. */
  static async load(file: string): Promise<RegistryAuth> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      return new RegistryAuth({});
    }
    let parsed: { auths?: Record<string, AuthEntry> };
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new Error(`${file} is not valid JSON (${(err as Error).message}); fix or remove it`);
    }
    return new RegistryAuth(parsed.auths ?? {});
  }

  static none(): RegistryAuth {
    return new RegistryAuth({});
  }

  /** The X-Registry-Auth header value for pulling `image`, or undefined when none is configured. */
  header(image: string): string | undefined {
    const registry = registryOf(image);
    const keys =
      registry === 'docker.io'
        ? [DOCKER_HUB, 'docker.io', 'index.docker.io']
        : [registry, `https://${registry}`, `http://${registry}`];
    const entry = keys.map((k) => this.auths[k]).find((e) => e !== undefined);
    if (!entry) return undefined;
    let { username, password } = entry;
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
    const body = entry.identitytoken
      ? { identitytoken: entry.identitytoken, serveraddress: registry }
      : { username, password, serveraddress: registry };
    return Buffer.from(JSON.stringify(body)).toString('base64url');
  }
}
