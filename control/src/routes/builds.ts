/**
 * Builds: the Action registers each image it built (or found already built) for a commit, and the
 * GitHub App later turns a registered build into a revision. Registering takes a GitHub OIDC token
 * whose `repository` claim must be the build's repository, or a deploy token (a key valid for the
 * management API) for any repository. Reading builds takes a management key.
 */
import type { FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import { GantryError } from '../../../contract/src/errors.ts';
import { BuildList, BuildsQuery, BuildView, RegisterBuild } from '../../../contract/src/management-api.ts';
import { hashKey, requireAdmin } from '../auth.ts';
import type { Build } from '../domain.ts';
import { OidcTokenError, OidcVerifier } from '../oidc-verifier.ts';
import type { Store } from '../store/store.ts';
import type { V1Scope } from './v1.ts';

/** Key scopes that may register builds for any repository (issue 7 adds narrower deploy keys). */
const DEPLOY_SCOPES = new Set(['ADMIN']);

const view = (b: Build): Static<typeof BuildView> => ({
  id: b.id,
  repository: b.repository,
  commit_sha: b.commit_sha,
  ref: b.ref,
  image: b.image,
  digest: b.digest,
  content_hash: b.content_hash,
  registered_by: b.registered_by,
  created_at: new Date(b.created_at).toISOString(),
});

export interface BuildRoutesDeps {
  store: Store;
  oidc: OidcVerifier;
  /** Told of each newly registered build (the GitHub App rolls out pushes waiting for it). */
  onRegistered?: (build: Static<typeof BuildView>) => Promise<void>;
  /**
   * Owners (`acme`) and repositories (`acme/models`) whose OIDC tokens may register; `*`: any.
   * Empty: as `installed` says, or any when nothing does.
   */
  allowedRepositories?: readonly string[];
  /** The default when the list is empty: the GitHub App's installations (an extension's answer). */
  installed?: ((repository: string) => Promise<boolean>) | undefined;
}

/** Whether GANTRY_BUILD_REPOSITORIES lets `repository` register (GitHub names ignore case). */
export function repositoryAllowed(allowed: readonly string[], repository: string): boolean {
  if (allowed.length === 0 || allowed.includes('*')) return true;
  const repo = repository.toLowerCase();
  const owner = repo.split('/')[0];
  return allowed.some((a) => {
    const x = a.toLowerCase();
    return x.includes('/') ? x === repo : x === owner;
  });
}

/** Who may register a build of `repository`: returns the `registered_by` value or throws. */
async function authorizeRegistration(
  d: BuildRoutesDeps,
  req: FastifyRequest,
  body: { repository: string; commit_sha: string },
): Promise<string> {
  const { repository } = body;
  const m = /^(Key|Bearer)\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!m) {
    throw new GantryError(
      'GANTRY_ERR_UNAUTHORIZED',
      'Registering a build needs a GitHub OIDC token (`Authorization: Bearer <token>`, from a workflow ' +
        'with `permissions: id-token: write`) or a deploy token (`Authorization: Key <key>`).',
    );
  }
  const credential = m[2]!;
  const isBearer = m[1]!.toLowerCase() === 'bearer';
  if (isBearer && OidcVerifier.looksLikeJwt(credential)) {
    let claims: Awaited<ReturnType<OidcVerifier['verify']>>;
    try {
      claims = await d.oidc.verify(credential);
    } catch (err) {
      if (err instanceof OidcTokenError) {
        throw new GantryError('GANTRY_ERR_INVALID_TOKEN', `The OIDC token was refused: ${err.message}.`);
      }
      throw err;
    }
    if (claims.repository !== repository) {
      throw new GantryError(
        'GANTRY_ERR_REPOSITORY_MISMATCH',
        `The token is for repository ${String(claims.repository)}, not ${repository}: a workflow may ` +
          'only register builds of its own repository.',
      );
    }
    // A token proves one workflow run of one commit: it may register builds of that commit only,
    // or any job in the repository could pin an image of its choosing to main's commit.
    if (typeof claims.sha === 'string' && claims.sha.toLowerCase() !== body.commit_sha.toLowerCase()) {
      throw new GantryError(
        'GANTRY_ERR_REPOSITORY_MISMATCH',
        `The token is for commit ${claims.sha}, not ${body.commit_sha}: a workflow run may only register ` +
          'builds of the commit it runs on.',
      );
    }
    const listed = d.allowedRepositories ?? [];
    if (listed.length === 0 && d.installed) {
      let installed: boolean;
      try {
        installed = await d.installed(repository);
      } catch (err) {
        throw new GantryError(
          'GANTRY_ERR_GITHUB_UNAVAILABLE',
          `Control could not ask GitHub whether its App is installed on ${repository} (${(err as Error).message}): ` +
            'try again, or list who may register in GANTRY_BUILD_REPOSITORIES.',
        );
      }
      if (!installed) {
        throw new GantryError(
          'GANTRY_ERR_REPOSITORY_NOT_ALLOWED',
          `${repository} may not register builds: control's GitHub App is not installed on it, and only ` +
            'repositories it is installed on may (GANTRY_BUILD_REPOSITORIES unset). Install the App on the ' +
            'repository, list it (or `*`) in GANTRY_BUILD_REPOSITORIES, or register with a deploy key.',
        );
      }
    } else if (!repositoryAllowed(listed, repository)) {
      throw new GantryError(
        'GANTRY_ERR_REPOSITORY_NOT_ALLOWED',
        `${repository} may not register builds: control takes OIDC tokens of ${(d.allowedRepositories ?? []).join(', ')} ` +
          '(GANTRY_BUILD_REPOSITORIES). Add the repository or its owner there, or register with a deploy key.',
      );
    }
    return `oidc:${claims.sub}`;
  }
  const key = await d.store.keys.find(hashKey(credential));
  if (!key) throw new GantryError('GANTRY_ERR_UNAUTHORIZED', 'The deploy token is not a key control knows.');
  if (!DEPLOY_SCOPES.has(key.scope)) {
    throw new GantryError('GANTRY_ERR_FORBIDDEN', `A ${key.scope} key may not register builds.`);
  }
  if (key.expires_at !== null && key.expires_at !== undefined && key.expires_at <= Date.now()) {
    throw new GantryError('GANTRY_ERR_KEY_EXPIRED', `Key ${key.id} has expired.`);
  }
  if (key.owner !== null && key.owner.toLowerCase() !== repository.split('/')[0]!.toLowerCase()) {
    throw new GantryError(
      'GANTRY_ERR_KEY_SCOPE',
      `Key ${key.id} is limited to ${key.owner}; it may not register builds of ${repository}.`,
    );
  }
  return `key:${key.id}`;
}

export function registerBuildRoutes(app: V1Scope, d: BuildRoutesDeps): void {
  const TAGS = ['builds v1'];

  app.post(
    '/builds',
    {
      schema: {
        tags: TAGS,
        summary: 'Register a build (GitHub OIDC token or deploy token); idempotent',
        body: RegisterBuild,
        response: { 200: BuildView, 201: BuildView },
      },
    },
    async (req, reply) => {
      const body = req.body;
      // The image must be the very bytes the digest names, or a registration could point a digest
      // at a mutable tag (or another image) that the App would then deploy.
      if (!body.image.endsWith(`@${body.digest}`)) {
        throw new GantryError(
          'GANTRY_ERR_VALIDATION',
          `image must name the image by its digest (\`<repository>@${body.digest}\`), got "${body.image}".`,
        );
      }
      const registeredBy = await authorizeRegistration(d, req, body);
      const { build, created } = await d.store.builds.register({
        repository: body.repository,
        commit_sha: body.commit_sha,
        ref: body.ref ?? null,
        image: body.image,
        digest: body.digest,
        content_hash: body.content_hash ?? null,
        registered_by: registeredBy,
      });
      req.log.info({ build: build.id, repository: build.repository, created }, 'build registered');
      // Not awaited: the Action's registration does not wait for a rollout.
      if (created && d.onRegistered) void d.onRegistered(view(build));
      return reply.code(created ? 201 : 200).send(view(build));
    },
  );

  app.get(
    '/builds',
    {
      schema: {
        tags: TAGS,
        summary: 'Builds of a repository (of one commit with `commit`), newest first',
        querystring: BuildsQuery,
        response: { 200: BuildList },
      },
    },
    async (req) => {
      const caller = await requireAdmin(d.store, req);
      const q = req.query;
      if (caller.owner !== null && caller.owner.toLowerCase() !== q.repository.split('/')[0]!.toLowerCase()) {
        throw new GantryError(
          'GANTRY_ERR_KEY_SCOPE',
          `Key ${caller.id} is limited to ${caller.owner}; it may not read builds of ${q.repository}.`,
        );
      }
      return { builds: (await d.store.builds.list(q.repository, q.commit, q.limit ?? 100)).map(view) };
    },
  );
}
