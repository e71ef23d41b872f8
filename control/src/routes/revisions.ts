/** Revisions of an environment: create (deploy), list, set the active one, delete. */
import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { GantryError } from '../../../contract/src/errors.ts';
import {
  ActiveRevisionView,
  CreateRevision,
  EnvParams,
  RevisionList,
  RevisionParams,
  RevisionView,
  SetActive,
} from '../../../contract/src/management-api.ts';
import { parseCodeSettings } from '../../../contract/src/scaling-settings.ts';
import type { Deployments } from '../deployments.ts';
import type { RevisionSnapshots } from '../revision-snapshots.ts';
import type { Store } from '../store/store.ts';
import { appLoaders } from './load-app.ts';
import { rolloutView } from './rollouts.ts';
import { TAGS, type V1Scope } from './v1.ts';
import { revisionView } from './views.ts';

/** A command revision's folder: absolute, and a folder that exists on control's machine. */
async function checkCwd(cwd: string | undefined): Promise<void> {
  if (cwd === undefined || cwd === '') {
    throw new GantryError(
      'GANTRY_ERR_VALIDATION',
      'A `command` revision needs `cwd`, the absolute folder it runs in (gantry deploy sends its folder).',
      { field: 'cwd' },
    );
  }
  if (!isAbsolute(cwd)) {
    throw new GantryError('GANTRY_ERR_VALIDATION', `cwd must be an absolute path, got "${cwd}".`, {
      field: 'cwd',
    });
  }
  const st = await stat(cwd).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new GantryError(
      'GANTRY_ERR_VALIDATION',
      `cwd "${cwd}" is not a folder on control's machine: a command revision runs where control runs.`,
      { field: 'cwd' },
    );
  }
}

export function registerRevisionRoutes(
  app: V1Scope,
  d: { store: Store; deployments: Deployments; snapshots?: RevisionSnapshots },
): void {
  const { store } = d;
  const { loadApp, loadEnv } = appLoaders(store);

  app.post(
    '/apps/:owner/:name/environments/:env/revisions',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a revision; with `activate: true` also roll it out (through the deploy gate)',
        params: EnvParams,
        body: CreateRevision,
        response: { 201: RevisionView },
      },
    },
    async (req, reply) => {
      const a = await loadApp(req);
      const body = req.body;
      if (!body.command && !body.image) {
        throw new GantryError('GANTRY_ERR_VALIDATION', 'A revision needs a `command` (local) or an `image`.');
      }
      if (body.command && body.image) {
        throw new GantryError(
          'GANTRY_ERR_VALIDATION',
          'A revision runs either a `command` (local) or an `image`, not both.',
          { field: 'image' },
        );
      }
      const settings = parseCodeSettings(body.settings as Record<string, unknown> | undefined);
      if (body.command) await checkCwd(body.cwd);
      // A command revision runs a copy of its folder as it is now: rolling back runs the old code.
      const cwd =
        body.command && body.cwd && d.snapshots ? await d.snapshots.snapshot(body.cwd) : (body.cwd ?? null);
      const annotations = (body.annotations ?? {}) as Record<string, unknown>;
      const { revision, env } = await d.deployments.deploy(a, req.params.env, {
        revision: {
          command: body.command ?? null,
          cwd,
          image: body.image ?? null,
          settings,
          commit_sha: body.commit_sha ?? null,
          message: body.message ?? null,
          annotations: cwd !== (body.cwd ?? null) ? { ...annotations, source_cwd: body.cwd } : annotations,
          created_by: 'api',
        },
        // Only when asked: registering a revision never changes what serves on its own.
        activate: body.activate === true,
        ...(body.strategy ? { strategy: body.strategy } : {}),
      });
      return reply.code(201).send(revisionView(revision, env));
    },
  );

  app.get(
    '/apps/:owner/:name/environments/:env/revisions',
    {
      schema: {
        tags: TAGS,
        summary: 'List revisions, newest first',
        params: EnvParams,
        response: { 200: RevisionList },
      },
    },
    async (req) => {
      const { env } = await loadEnv(req);
      const health = await store.revisions.health(env.id);
      return {
        revisions: (await store.revisions.list(env.id)).map((r) => revisionView(r, env, health.get(r.id))),
      };
    },
  );

  app.put(
    '/apps/:owner/:name/environments/:env/active-revision',
    {
      schema: {
        tags: TAGS,
        summary:
          'Set the active revision (a rollback is this call with an earlier number), through a rollout: `rolling` by default while runners are live, so the switch happens once the new revision is healthy',
        params: EnvParams,
        body: SetActive,
        response: { 200: ActiveRevisionView },
      },
    },
    async (req) => {
      const { env } = await loadEnv(req);
      const { revision: number, strategy, reason, by } = req.body;
      const done = await d.deployments.activate(env, number, {
        ...(strategy ? { strategy } : {}),
        ...(reason !== undefined ? { reason } : {}),
        ...(by !== undefined ? { by } : {}),
      });
      return {
        ...revisionView(done.revision, done.env, done.health),
        rollout: await rolloutView(store, done.env, done.rollout),
      };
    },
  );

  app.delete(
    '/apps/:owner/:name/environments/:env/revisions/:number',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete a revision that is not active',
        params: RevisionParams,
      },
    },
    async (req, reply) => {
      const { env } = await loadEnv(req);
      const rev = await d.deployments.revisionByNumber(env, req.params.number);
      if (env.active_revision_id === rev.id) {
        throw new GantryError(
          'GANTRY_ERR_REVISION_ACTIVE',
          `Revision ${rev.number} is the active revision of ${env.name}: roll back or deploy another first.`,
        );
      }
      await store.revisions.delete(rev.id);
      return reply.code(204).send();
    },
  );
}
