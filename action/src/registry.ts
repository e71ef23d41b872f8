/**
 * Reads images back from an OCI registry over the distribution API: whether a tag exists and which
 * digest it serves, and an image's size. The digest the Action reports is the one the registry
 * serves, never one a builder printed.
 *
 * Credentials are the ones `docker login` (and amazon-ecr-login) or `buildah login` stored; the
 * registry's 401 challenge says whether to send them as Basic or trade them for a Bearer token.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export interface RepositoryName {
  /** Host (and port) of the registry API. */
  host: string;
  /** Repository path inside the registry. */
  name: string;
}

/** Splits `host[:port]/path`; names without a registry host are Docker Hub's. */
export function parseRepository(repository: string): RepositoryName {
  const slash = repository.indexOf('/');
  const first = slash < 0 ? '' : repository.slice(0, slash);
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    return { host: first, name: repository.slice(slash + 1) };
  }
  return { host: 'registry-1.docker.io', name: slash < 0 ? `library/${repository}` : repository };
}

export class RegistryError extends Error {
  override name = 'RegistryError';
}

export interface RegistryOptions {
  insecure?: boolean;
  fetch?: typeof fetch;
  env?: Record<string, string | undefined>;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^(\w+)\s*(.*)$/.exec(header.trim());
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/(\w+)="([^"]*)"/g)) params[p[1]!.toLowerCase()] = p[2]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

/** `user:password` in base64 for the host, from docker's and containers' auth files. */
async function storedAuth(
  host: string,
  env: Record<string, string | undefined>,
): Promise<string | undefined> {
  const home = env['HOME'] || homedir();
  const files = [
    env['REGISTRY_AUTH_FILE'],
    env['XDG_RUNTIME_DIR'] && path.join(env['XDG_RUNTIME_DIR'], 'containers', 'auth.json'),
    path.join(env['DOCKER_CONFIG'] || path.join(home, '.docker'), 'config.json'),
  ].filter((f): f is string => Boolean(f));
  const hubAliases = ['index.docker.io', 'docker.io', 'registry-1.docker.io'];
  const wanted = hubAliases.includes(host) ? hubAliases : [host];
  for (const file of files) {
    let auths: Record<string, { auth?: string }> | undefined;
    try {
      auths = (JSON.parse(await readFile(file, 'utf8')) as { auths?: Record<string, { auth?: string }> })
        .auths;
    } catch {
      continue;
    }
    for (const [key, value] of Object.entries(auths ?? {})) {
      const keyHost = key.replace(/^https?:\/\//, '').split('/')[0]!;
      if (wanted.includes(keyHost) && value.auth) return value.auth;
    }
  }
  return undefined;
}

export class RegistryClient {
  private readonly scheme: string;
  private readonly fetch: typeof fetch;
  private readonly env: Record<string, string | undefined>;
  /** Authorization header per host and scope, once a challenge was answered. */
  private readonly authorizations = new Map<string, string>();

  constructor(o: RegistryOptions = {}) {
    this.scheme = o.insecure ? 'http' : 'https';
    this.fetch = o.fetch ?? globalThis.fetch;
    this.env = o.env ?? process.env;
  }

  /** The digest the registry serves for `repository:tag`, or undefined when there is no such tag. */
  async tagDigest(repository: string, tag: string): Promise<string | undefined> {
    const res = await this.get(repository, `manifests/${encodeURIComponent(tag)}`, 'HEAD');
    if (res.status === 404) return undefined;
    if (!res.ok) throw new RegistryError(`${repository}:${tag}: the registry answered ${res.status}`);
    const digest = res.headers.get('docker-content-digest');
    if (digest) return digest;
    // Registries need not send the header on HEAD; the manifest itself always answers.
    const body = await this.get(repository, `manifests/${encodeURIComponent(tag)}`, 'GET');
    return `sha256:${createHash('sha256')
      .update(Buffer.from(await body.arrayBuffer()))
      .digest('hex')}`;
  }

  /** Compressed size of the image (config and layers); for an index, of its first image. */
  async imageSize(repository: string, digest: string): Promise<number | undefined> {
    const res = await this.get(repository, `manifests/${digest}`, 'GET');
    if (!res.ok) return undefined;
    const m = (await res.json()) as {
      manifests?: { digest: string }[];
      config?: { size?: number };
      layers?: { size?: number }[];
    };
    if (m.manifests?.[0]) return this.imageSize(repository, m.manifests[0].digest);
    return (m.config?.size ?? 0) + (m.layers ?? []).reduce((n, l) => n + (l.size ?? 0), 0);
  }

  private async get(repository: string, rest: string, method: 'GET' | 'HEAD'): Promise<Response> {
    const { host, name } = parseRepository(repository);
    const url = `${this.scheme}://${host}/v2/${name}/${rest}`;
    const key = `${host}/${name}`;
    const send = (authorization?: string) =>
      this.fetch(url, {
        method,
        headers: { accept: MANIFEST_TYPES, ...(authorization ? { authorization } : {}) },
        signal: AbortSignal.timeout(30_000),
      }).catch((err: Error) => {
        throw new RegistryError(`cannot reach the registry at ${this.scheme}://${host}: ${err.message}`);
      });
    let res = await send(this.authorizations.get(key));
    if (res.status !== 401) return res;
    const authorization = await this.answer(host, name, parseChallenge(res.headers.get('www-authenticate')));
    this.authorizations.set(key, authorization);
    res = await send(authorization);
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError(
        `${host} refused the stored credentials (${res.status}): log in to the registry before this step (for ECR: aws-actions/amazon-ecr-login).`,
      );
    }
    return res;
  }

  private async answer(host: string, name: string, challenge: Challenge | undefined): Promise<string> {
    const basic = await storedAuth(host, this.env);
    if (challenge?.scheme === 'bearer' && challenge.params['realm']) {
      const u = new URL(challenge.params['realm']);
      if (challenge.params['service']) u.searchParams.set('service', challenge.params['service']);
      u.searchParams.set('scope', `repository:${name}:pull`);
      const res = await this.fetch(u, {
        headers: basic ? { authorization: `Basic ${basic}` } : {},
        signal: AbortSignal.timeout(30_000),
      });
      if (!res.ok)
        throw new RegistryError(
          `${host}'s token service answered ${res.status}: log in to the registry first.`,
        );
      const t = (await res.json()) as { token?: string; access_token?: string };
      const token = t.token ?? t.access_token;
      if (!token) throw new RegistryError(`${host}'s token service sent no token.`);
      return `Bearer ${token}`;
    }
    if (!basic) {
      throw new RegistryError(
        `${host} needs credentials and none are stored: log in to the registry before this step (for ECR: aws-actions/amazon-ecr-login).`,
      );
    }
    return `Basic ${basic}`;
  }
}
