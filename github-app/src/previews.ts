/**
 * Pull-request previews: while a pull request is open and previews are on, each push to it
 * deploys to its own environment `pr-N` (own queue, runners and secrets); closing it, or leaving it
 * without pushes past the configured expiry, tears the environment down and marks its deployments
 * inactive.
 */
import type { GantryDeps, Octokit, Repo } from './app-deps.ts';
import { previewEnvironment, previewNumber } from './branch-environments.ts';
import type { DeploymentPlan } from './deployment-ledger.ts';
import { deactivate, startDeployment } from './deployments.ts';
import { type GantryConfig, scalingFor } from './gantry-config.ts';
import { previewQueuedText, previewRemovedText, upsertPreviewComment } from './previews-comment.ts';

export interface PullRequestHead {
  number: number;
  sha: string;
  ref: string;
  author: string;
}

/** Deploys the pull request's head to its preview environment. */
export async function deployPreview(
  deps: GantryDeps,
  gh: Octokit,
  repo: Repo,
  installationId: number,
  config: GantryConfig,
  pull: PullRequestHead,
  message: string,
): Promise<void> {
  const environment = previewEnvironment(pull.number);
  const plan: DeploymentPlan = {
    owner: repo.owner,
    app: config.app,
    auth: config.auth,
    code: config.code,
    scaling: scalingFor(config, environment),
    message,
    by: pull.author,
    pull_number: pull.number,
    expire_after_hours: config.previews.expireAfterHours,
  };
  await upsertPreviewComment(gh, repo, pull.number, previewQueuedText(environment, pull.sha));
  await startDeployment(deps, gh, {
    repo,
    installationId,
    environment,
    commit: pull.sha,
    ref: `refs/heads/${pull.ref}`,
    plan,
    transient: true,
  });
}

/** Tears a preview down: control removes the environment; its deployments become inactive. */
export async function removePreview(
  deps: GantryDeps,
  gh: Octokit,
  repo: Repo,
  pullNumber: number,
  appName: string | undefined,
  why: string,
): Promise<boolean> {
  const environment = previewEnvironment(pullNumber);
  const records = await deps.ledger.forEnvironment(`${repo.owner}/${repo.repo}`, environment);
  const app = appName ?? records[0]?.plan.app;
  if (!app) return false;
  await deps.control.removeEnvironment(repo.owner.toLowerCase(), app, environment);
  await deactivate(deps, gh, records, `Preview torn down: ${why}`);
  await upsertPreviewComment(gh, repo, pullNumber, previewRemovedText(environment, why));
  return true;
}

/** Tears down previews without a push for longer than their repository's expiry. */
export async function expirePreviews(
  deps: GantryDeps,
  octokitFor: (installationId: number) => Promise<Octokit>,
): Promise<number> {
  let removed = 0;
  const now = deps.clock();
  for (const head of await deps.ledger.previewHeads()) {
    const hours = head.plan.expire_after_hours ?? 0;
    if (hours <= 0 || head.created_at + hours * 3_600_000 > now) continue;
    const n = previewNumber(head.environment);
    if (n === undefined) continue;
    const [owner, name] = head.repository.split('/') as [string, string];
    const gh = await octokitFor(head.installation_id);
    await removePreview(deps, gh, { owner, repo: name }, n, head.plan.app, `no push for ${hours} hours`);
    removed++;
  }
  return removed;
}
