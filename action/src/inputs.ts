/**
 * The Action's inputs and the GitHub context it runs in, parsed once and checked together, so a
 * misconfigured workflow fails at once with every problem named instead of halfway through a build.
 */

export type BuilderChoice = 'auto' | 'buildx' | 'buildah';

export interface Inputs {
  /** Base URL of the Gantry control service, without a trailing slash. */
  controlUrl: string;
  /** Image repository without tag, e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/app`. */
  imageRepository: string;
  /** Build context folder, as given (relative to the workspace). */
  context: string;
  /** Containerfile path relative to the workspace; undefined: `Containerfile` or `Dockerfile` in the context. */
  containerfile: string | undefined;
  /** Build arguments in the order given. */
  buildArgs: [string, string][];
  /** Registry reference for the build cache; undefined: no registry cache. */
  cacheRef: string | undefined;
  /** A Gantry key used instead of the GitHub OIDC token. */
  deployToken: string | undefined;
  /** Audience of the OIDC token; control's GANTRY_OIDC_AUDIENCE. */
  audience: string;
  builder: BuilderChoice;
  /** Talk to the registry over plain HTTP without TLS checks (loopback and test registries). */
  registryInsecure: boolean;
  github: { repository: string; sha: string; ref: string | undefined; workspace: string };
}

/** Reads one input by its action.yml name; `core.getInput` in production. */
export type InputReader = (name: string) => string;

export class InputError extends Error {
  override name = 'InputError';
}

const REPOSITORY = /^[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/;
const HOST_ONLY = /^[a-z0-9.-]+(?::[0-9]+)?$/;
const ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses every input; throws one InputError that lists each problem and how to fix it. */
export function parseInputs(read: InputReader, env: Record<string, string | undefined>): Inputs {
  const problems: string[] = [];
  const get = (name: string) => read(name).trim();
  const required = (name: string, hint: string) => {
    const v = get(name);
    if (v === '') problems.push(`input "${name}" is required: ${hint}`);
    return v;
  };

  const controlUrl = required('control-url', 'the URL of your Gantry control service').replace(/\/+$/, '');
  if (controlUrl !== '') {
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(controlUrl).protocol);
    } catch {
      ok = false;
    }
    if (!ok) problems.push(`input "control-url" must be an http(s) URL, got "${controlUrl}"`);
  }

  const imageRepository = required(
    'image-repository',
    'where to push, e.g. <account>.dkr.ecr.<region>.amazonaws.com/<name>',
  );
  if (imageRepository !== '') {
    if (/[@]/.test(imageRepository) || /:[^/]*$/.test(imageRepository.replace(/^[^/]*\//, ''))) {
      problems.push(
        `input "image-repository" must not carry a tag or digest (the Action tags images itself), got "${imageRepository}"`,
      );
    } else if (!REPOSITORY.test(imageRepository) || HOST_ONLY.test(imageRepository)) {
      problems.push(
        `input "image-repository" must be a lower-case repository like registry.example.com/team/app, got "${imageRepository}"`,
      );
    }
  }

  const buildArgs: [string, string][] = [];
  for (const line of read('build-args').split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const eq = t.indexOf('=');
    const name = eq < 0 ? t : t.slice(0, eq);
    if (eq < 0 || !ARG_NAME.test(name)) {
      problems.push(`input "build-args": each line must be NAME=value, got "${t}"`);
      continue;
    }
    buildArgs.push([name, t.slice(eq + 1)]);
  }

  const builder = get('builder') || 'auto';
  if (!['auto', 'buildx', 'buildah'].includes(builder)) {
    problems.push(`input "builder" must be auto, buildx or buildah, got "${builder}"`);
  }

  const insecureRaw = (get('registry-insecure') || 'false').toLowerCase();
  if (!['true', 'false'].includes(insecureRaw)) {
    problems.push(`input "registry-insecure" must be true or false, got "${insecureRaw}"`);
  }

  const repository = env['GITHUB_REPOSITORY'] ?? '';
  const sha = env['GITHUB_SHA'] ?? '';
  if (!/^[^/\s]+\/[^/\s]+$/.test(repository)) {
    problems.push('GITHUB_REPOSITORY is not set: run this Action in a GitHub Actions workflow');
  }
  if (!/^[0-9a-f]{40,64}$/.test(sha))
    problems.push('GITHUB_SHA is not a commit id: run this Action on a push');

  if (problems.length > 0) {
    throw new InputError(`The Action's inputs are not valid:\n  - ${problems.join('\n  - ')}`);
  }
  return {
    controlUrl,
    imageRepository,
    context: get('context') || '.',
    containerfile: get('containerfile') || undefined,
    buildArgs,
    cacheRef: get('cache-ref') || undefined,
    deployToken: get('deploy-token') || undefined,
    audience: get('audience') || 'gantry',
    builder: builder as BuilderChoice,
    registryInsecure: insecureRaw === 'true',
    github: {
      repository,
      sha,
      ref: env['GITHUB_REF'] || undefined,
      workspace: env['GITHUB_WORKSPACE'] || process.cwd(),
    },
  };
}
