/**
 * GitHub Deployments for pushes (and previews and `/gantry deploy`): created `queued` until the
 * build of the commit is registered with control, `in_progress` while control rolls the new
 * revision out, then `success` with the endpoint as `environment_url`, or `failure` with the reason.
 *
 * Push and build may arrive in either order: a deployment is recorded before control is asked for
 * the build, and a build arriving meanwhile finds it recorded; the ledger's conditional
 * `queued → in_progress` lets exactly one of the two roll it out. A newer deployment of an
 * environment supersedes the older unfinished ones, and rollouts of one environment run one at a
 * time and re-check that they are still current before they switch, so an environment is never
 * left on an older commit.
 */
import type { GantryDeps, Octokit, Repo } from './app-deps.ts';
import { ControlApiError, type ControlBuild } from './control-client.ts';
import type { DeploymentPlan, DeploymentRecord, DeploymentState } from './deployment-ledger.ts';
import { consoleUrl, endpointId, endpointUrl, shortSha } from './endpoint.ts';
import { commentOnMergedPullRequest, findMergedPullRequest, revisionNote } from './merged-pull-request.ts';
import { previewLive } from './previews-comment.ts';

/** How often a GitHub deployment looks at a rolling rollout it is waiting for. */
const ROLLOUT_POLL_MS = 1000;

export interface DeploymentRequest {
  repo: Repo;
  installationId: number;
  environment: string;
  commit: string;
  ref: string;
  plan: DeploymentPlan;
  /** Preview environments are transient: GitHub hides them once inactive. */
  transient: boolean;
}

export type RolloutOutcome =
  | { kind: 'success'; revision: number; endpoint: string }
  | { kind: 'failure'; reason: string }
  | { kind: 'superseded' }
  | { kind: 'skipped' };

/** GitHub keeps at most 140 characters of a status description. */
const describe = (text: string) => (text.length <= 140 ? text : `${text.slice(0, 139)}…`);

const repositoryName = (repo: Repo) => `${repo.owner}/${repo.repo}`;
const lockKey = (repository: string, env: string) => `${repository.toLowerCase()} ${env}`;

async function setStatus(
  gh: Octokit,
  repo: Repo,
  deploymentId: number,
  state: 'queued' | 'in_progress' | 'success' | 'failure' | 'inactive',
  description: string,
  urls: { environment_url?: string; log_url?: string } = {},
): Promise<void> {
  await gh.rest.repos.createDeploymentStatus({
    ...repo,
    deployment_id: deploymentId,
    state,
    description: describe(description),
    ...urls,
  });
}

/** Creates the GitHub Deployment, records it, supersedes older ones, and rolls out at once if the build is there. */
export async function startDeployment(
  deps: GantryDeps,
  gh: Octokit,
  req: DeploymentRequest,
): Promise<{ record: DeploymentRecord; outcome: RolloutOutcome }> {
  const { repo, environment, commit } = req;
  const created = await gh.rest.repos.createDeployment({
    ...repo,
    ref: commit,
    environment,
    auto_merge: false,
    required_contexts: [],
    transient_environment: req.transient,
    production_environment: environment === 'production',
    description: describe(
      `Gantry: ${endpointId(req.plan.owner, req.plan.app, environment)} at ${shortSha(commit)}`,
    ),
    payload: { gantry: { app: `${req.plan.owner}/${req.plan.app}`, environment } },
  });
  const deploymentId = (created.data as { id?: number }).id;
  if (typeof deploymentId !== 'number') {
    throw new Error(`GitHub did not create a deployment for ${shortSha(commit)}`);
  }
  const record = await deps.ledger.add({
    repository: repositoryName(repo),
    installation_id: req.installationId,
    environment,
    commit_sha: commit,
    ref: req.ref,
    deployment_id: deploymentId,
    plan: req.plan,
  });
  await setStatus(gh, repo, deploymentId, 'queued', `Waiting for the build of ${shortSha(commit)}`);
  for (const older of await deps.ledger.supersedeOlder(record.repository, environment, record.id)) {
    await setStatus(
      gh,
      repo,
      older.deployment_id,
      'inactive',
      `Superseded by ${shortSha(commit)}, a newer push to ${environment}`,
    );
  }
  const builds = await deps.control.builds(record.repository, commit);
  const outcome = builds[0] ? await rollOut(deps, gh, record, builds[0]) : { kind: 'skipped' as const };
  return { record, outcome };
}

/** A build was registered: roll out every deployment that waited for it. */
export async function buildRegistered(
  deps: GantryDeps,
  octokitFor: (installationId: number) => Promise<Octokit>,
  build: ControlBuild,
): Promise<void> {
  for (const record of await deps.ledger.queuedFor(build.repository, build.commit_sha)) {
    await rollOut(deps, await octokitFor(record.installation_id), record, build);
  }
}

const repoOf = (record: DeploymentRecord): Repo => {
  const [owner, repo] = record.repository.split('/') as [string, string];
  return { owner, repo };
};

/** Rolls one deployment out, if it is still queued and still the newest of its environment. */
export async function rollOut(
  deps: GantryDeps,
  gh: Octokit,
  record: DeploymentRecord,
  build: ControlBuild,
): Promise<RolloutOutcome> {
  // Exactly one of a push handler and a build notification gets past this line.
  if (!(await deps.ledger.transition(record.id, ['queued'], 'in_progress'))) return { kind: 'skipped' };
  const repo = repoOf(record);
  const { plan, environment } = record;
  const id = endpointId(plan.owner, plan.app, environment);
  const finish = async (state: DeploymentState, revision?: number) =>
    deps.ledger.transition(record.id, ['in_progress'], state, revision);
  return deps.locks.run(lockKey(record.repository, environment), async () => {
    const current = await deps.ledger.get(record.id);
    if (current?.state !== 'in_progress') return { kind: 'superseded' };
    await setStatus(
      gh,
      repo,
      record.deployment_id,
      'in_progress',
      `Rolling out ${shortSha(record.commit_sha)}`,
    );
    try {
      const pr =
        plan.pull_number === undefined ? await findMergedPullRequest(gh, repo, record.commit_sha) : undefined;
      const note = pr ? revisionNote(pr) : { message: plan.message, annotations: {} };
      const owner = plan.owner.toLowerCase();
      await deps.control.ensureApp(owner, plan.app, plan.auth);
      const rev = await deps.control.createRevision(owner, plan.app, environment, {
        image: build.image,
        settings: plan.code,
        commit_sha: record.commit_sha,
        message: note.message,
        annotations: {
          ...note.annotations,
          repository: record.repository,
          ref: record.ref,
          github_deployment_id: record.deployment_id,
          deployed_by: plan.by,
        },
      });
      if (Object.keys(plan.scaling).length > 0) {
        await deps.control.setScaling(owner, plan.app, environment, plan.scaling);
      }
      // Last look before switching: a newer push may have superseded this one while it was built.
      if ((await deps.ledger.get(record.id))?.state !== 'in_progress') return { kind: 'superseded' };
      const why = pr
        ? `merged pull request #${pr.number}`
        : `push of ${shortSha(record.commit_sha)} to ${record.ref}`;
      let outcome = await deps.control.rollout(owner, plan.app, environment, rev.number, {
        by: plan.by,
        reason: why,
      });
      // A rolling rollout switches once a runner of the new revision is healthy, or aborts and keeps
      // the old one: say "success" only for the former. Control ends it by startup_timeout itself.
      const startupS = typeof plan.code.startup_timeout === 'number' ? plan.code.startup_timeout : 300;
      // Control's deploy gate allows startup_timeout plus its margin (60 s by default): wait longer.
      const polls = Math.ceil(((startupS + 180) * 1000) / ROLLOUT_POLL_MS);
      for (let i = 0; outcome.state === 'in_progress' && outcome.id && i < polls; i++) {
        await new Promise((r) => setTimeout(r, ROLLOUT_POLL_MS));
        outcome = await deps.control.rolloutState(owner, plan.app, environment, outcome.id);
      }
      if (outcome.state !== 'completed') {
        const reason =
          outcome.state === 'in_progress'
            ? `Revision ${rev.number} did not become healthy in time; the previous revision keeps serving.`
            : outcome.state === 'aborted'
              ? `Revision ${rev.number} failed its deploy gate${outcome.detail ? `: ${outcome.detail}` : ''}; the previous revision keeps serving.`
              : `Revision ${rev.number} did not take over (${outcome.state}${outcome.detail ? `: ${outcome.detail}` : ''}); the previous revision keeps serving.`;
        await finish('failure');
        // The console's page of the environment has the failed runner's whole output.
        await setStatus(gh, repo, record.deployment_id, 'failure', reason.slice(0, 140), {
          log_url: consoleUrl(deps.publicUrl(), id),
        });
        return { kind: 'failure', reason };
      }
      await deps.ledger.addRollout({
        repository: record.repository,
        environment,
        revision: rev.number,
        kind: plan.pull_number !== undefined ? 'preview' : pr ? 'pull_request' : 'push',
        by: plan.by,
        reason: why,
        at: deps.clock(),
      });
      if (!(await finish('success', rev.number))) return { kind: 'superseded' };
      const url = endpointUrl(deps.publicUrl(), id);
      await setStatus(gh, repo, record.deployment_id, 'success', `Revision ${rev.number} of ${id} is live`, {
        environment_url: url,
        // The console's page of the environment: runners, requests and logs, after signing in.
        log_url: consoleUrl(deps.publicUrl(), id),
      });
      if (pr)
        await commentOnMergedPullRequest(deps, gh, repo, pr, {
          revision: rev.number,
          environment,
          endpoint: id,
        });
      if (plan.pull_number !== undefined && environment.startsWith('pr-')) {
        await previewLive(deps, gh, repo, plan.pull_number, {
          revision: rev.number,
          environment,
          endpoint: id,
          commit: record.commit_sha,
        });
      }
      return { kind: 'success', revision: rev.number, endpoint: id };
    } catch (err) {
      const reason =
        err instanceof ControlApiError
          ? `Gantry control refused: ${err.message}`
          : `Deploy failed: ${(err as Error).message}`;
      deps.log.warn({ err, deployment: record.deployment_id }, 'rollout failed');
      await finish('failure');
      await setStatus(gh, repo, record.deployment_id, 'failure', reason);
      return { kind: 'failure', reason };
    }
  });
}

/** Marks the given deployments inactive on GitHub and in the ledger. */
export async function deactivate(
  deps: GantryDeps,
  gh: Octokit,
  records: DeploymentRecord[],
  description: string,
): Promise<void> {
  for (const r of records) {
    if (r.state === 'inactive') continue;
    await deps.ledger.transition(
      r.id,
      ['queued', 'in_progress', 'success', 'failure', 'superseded'],
      'inactive',
    );
    await setStatus(gh, repoOf(r), r.deployment_id, 'inactive', description);
  }
}

/** Supersedes every unfinished deployment of an environment (a rollback must not be rolled forward). */
export async function supersedeAll(
  deps: GantryDeps,
  gh: Octokit,
  repo: Repo,
  environment: string,
  description: string,
): Promise<void> {
  for (const older of await deps.ledger.supersedeOlder(
    repositoryName(repo),
    environment,
    Number.MAX_SAFE_INTEGER,
  )) {
    await setStatus(gh, repo, older.deployment_id, 'inactive', description);
  }
}

export { setStatus as setDeploymentStatus };
