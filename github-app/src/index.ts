/**
 * The Gantry GitHub App: branches are environments, merges are revisions, comments roll back.
 * The Probot app function only routes events to the plain functions beside it.
 */
import type { ApplicationFunction, Probot } from 'probot';
import type { SqlHandle } from '../../contract/src/extension.ts';
import type { GantryDeps, Octokit } from './app-deps.ts';
import { branchOfRef, environmentForBranch } from './branch-environments.ts';
import { runCommand } from './command-handlers.ts';
import { HELP, parseCommand } from './comment-commands.ts';
import type { ControlBuild, ControlClient } from './control-client.ts';
import type { DeploymentLedger } from './deployment-ledger.ts';
import { buildRegistered, startDeployment } from './deployments.ts';
import { type GantryConfig, scalingFor } from './gantry-config.ts';
import { KeyedLock } from './keyed-lock.ts';
import { deployPreview, expirePreviews, removePreview } from './previews.ts';
import { loadRepositoryConfig, reportInvalidConfig } from './repository-config.ts';

export interface GantryAppOptions {
  control: ControlClient;
  ledger: DeploymentLedger;
  publicUrl: () => string;
  clock?: () => number;
  /** The database shared with control: deployments of one environment lock it across replicas. */
  sql?: SqlHandle;
}

export interface GantryApp {
  /** The Probot application function. */
  app: ApplicationFunction;
  /** Control registered a build: roll out the deployments waiting for it. */
  buildRegistered(build: ControlBuild): Promise<void>;
  /** Tears down previews past their expiry; returns how many. */
  expirePreviews(): Promise<number>;
}

export function createGantryApp(o: GantryAppOptions): GantryApp {
  let probot: Probot | undefined;
  let deps: GantryDeps | undefined;
  const octokitFor = async (installationId: number): Promise<Octokit> => {
    if (!probot) throw new Error('the GitHub App is not loaded yet');
    return probot.auth(installationId);
  };
  const ready = () => {
    if (!deps) throw new Error('the GitHub App is not loaded yet');
    return deps;
  };

  const app: ApplicationFunction = (p) => {
    probot = p;
    const d: GantryDeps = {
      control: o.control,
      ledger: o.ledger,
      publicUrl: o.publicUrl,
      clock: o.clock ?? Date.now,
      log: p.log,
      locks: new KeyedLock(o.sql),
    };
    deps = d;

    p.on('push', async (context) => {
      const e = context.payload;
      const branch = branchOfRef(e.ref);
      if (!branch || e.deleted || !e.installation) return;
      const repo = context.repo();
      const loaded = await loadRepositoryConfig(context.octokit, repo, e.after);
      if (loaded.kind === 'missing') return;
      if (loaded.kind === 'invalid') {
        await reportInvalidConfig(context.octokit, repo, e.after, loaded.problems);
        return;
      }
      // Where a push may deploy (branch map, app, auth, scaling) is the default branch's word, so a
      // branch cannot route itself to production or to another app by editing its own gantry.yml;
      // what to run (code settings) comes from the pushed commit.
      const config =
        branch === e.repository.default_branch ? loaded.config : await policyConfig(context.octokit, repo);
      if (!config) return;
      const environment = environmentForBranch(config, branch);
      if (!environment) return;
      await startDeployment(d, context.octokit, {
        repo,
        installationId: e.installation.id,
        environment,
        commit: e.after,
        ref: e.ref,
        transient: false,
        plan: {
          owner: repo.owner,
          app: config.app,
          auth: config.auth,
          code: loaded.config.code,
          scaling: scalingFor(config, environment),
          message: e.head_commit?.message ?? '',
          by: e.pusher.name ?? e.sender?.login ?? 'unknown',
        },
      });
    });

    p.on(['pull_request.opened', 'pull_request.synchronize', 'pull_request.reopened'], async (context) => {
      const e = context.payload;
      const pr = e.pull_request;
      if (!e.installation) return;
      // A fork's pushes are not built by this repository's workflow: there is nothing to preview.
      if (pr.head.repo?.full_name !== pr.base.repo.full_name) return;
      const repo = context.repo();
      const loaded = await loadRepositoryConfig(context.octokit, repo, pr.head.sha);
      if (loaded.kind === 'missing') return;
      if (loaded.kind === 'invalid') {
        await reportInvalidConfig(context.octokit, repo, pr.head.sha, loaded.problems);
        return;
      }
      // Previews are configured by the default branch (see the push handler); the PR brings its code.
      const policy = await policyConfig(context.octokit, repo);
      if (!policy?.previews.enabled) return;
      await deployPreview(
        d,
        context.octokit,
        repo,
        e.installation.id,
        { ...policy, code: loaded.config.code },
        { number: pr.number, sha: pr.head.sha, ref: pr.head.ref, author: e.sender.login },
        `#${pr.number} ${pr.title}`,
      );
    });

    p.on('pull_request.closed', async (context) => {
      const pr = context.payload.pull_request;
      // The merge itself deploys through the push of its merge commit (deployments.ts).
      await removePreview(d, context.octokit, context.repo(), pr.number, undefined, 'pull request closed');
    });

    p.on('issue_comment.created', async (context) => {
      const e = context.payload;
      if (!e.issue.pull_request || !e.installation) return;
      if (e.comment.user?.type === 'Bot' || e.sender.type === 'Bot') return;
      const parsed = parseCommand(e.comment.body);
      if (!parsed.ok && parsed.problem === undefined) return;
      const gh = context.octokit;
      const repo = context.repo();
      const reply = (body: string) =>
        gh.rest.issues.createComment({ ...repo, issue_number: e.issue.number, body });
      await gh.rest.reactions.createForIssueComment({ ...repo, comment_id: e.comment.id, content: 'eyes' });
      if (!parsed.ok) {
        await reply(`${parsed.problem}\n\n${HELP}`);
        return;
      }
      if (parsed.command.kind === 'help') {
        await reply(HELP);
        return;
      }
      const loaded = await loadRepositoryConfig(gh, repo);
      if (loaded.kind !== 'ok') {
        await reply(
          `The default branch has ${loaded.kind === 'missing' ? 'no' : 'an invalid'} \`.github/gantry.yml\`, so there is nothing I can do yet.`,
        );
        return;
      }
      const answer = await runCommand(d, gh, parsed.command, {
        repo,
        installationId: e.installation.id,
        pullNumber: e.issue.number,
        commenter: e.comment.user?.login ?? e.sender.login,
        commentUrl: e.comment.html_url,
        config: loaded.config,
      });
      await reply(answer);
    });

    // Running apart from control, the App hears of builds when the workflow that registers them ends.
    p.on('workflow_run.completed', async (context) => {
      const run = context.payload.workflow_run;
      const repository = context.payload.repository.full_name;
      for (const build of (await d.control.builds(repository, run.head_sha)).slice(0, 1)) {
        await buildRegistered(d, octokitFor, build);
      }
    });
  };

  return {
    app,
    buildRegistered: (build) => buildRegistered(ready(), octokitFor, build),
    expirePreviews: () => expirePreviews(ready(), octokitFor),
  };
}

/** The default branch's valid gantry.yml (GitHub serves the default branch when no ref is named). */
async function policyConfig(
  gh: Octokit,
  repo: { owner: string; repo: string },
): Promise<GantryConfig | undefined> {
  const base = await loadRepositoryConfig(gh, repo);
  return base.kind === 'ok' ? base.config : undefined;
}
