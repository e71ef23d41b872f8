/**
 * Carries out a parsed `/gantry` command for a commenter, after checking their permission on the
 * repository against what `.github/gantry.yml` on the default branch asks (a pull request cannot
 * loosen its own rules). Returns the markdown answer; nothing changes for a refused command.
 */
import type { GantryDeps, Octokit, Repo } from './app-deps.ts';
import { HELP, type ParsedCommand } from './comment-commands.ts';
import { ControlApiError } from './control-client.ts';
import { startDeployment, supersedeAll } from './deployments.ts';
import { endpointId, shortSha } from './endpoint.ts';
import {
  atLeast,
  type Command,
  deployableFromComments,
  type GantryConfig,
  PERMISSION_LEVELS,
  type Permission,
  requiredPermission,
  scalingFor,
} from './gantry-config.ts';
import { loadRepositoryConfig } from './repository-config.ts';

export interface CommandInput {
  repo: Repo;
  installationId: number;
  pullNumber: number;
  commenter: string;
  commentUrl: string;
  config: GantryConfig;
}

/** The commenter's permission: GitHub's role name when it is a standard one, else its base permission. */
export async function permissionOf(gh: Octokit, repo: Repo, username: string): Promise<Permission> {
  try {
    const { data } = await gh.rest.repos.getCollaboratorPermissionLevel({ ...repo, username });
    const role = (data as { role_name?: string }).role_name;
    if (role && (PERMISSION_LEVELS as readonly string[]).includes(role)) return role as Permission;
    return (PERMISSION_LEVELS as readonly string[]).includes(data.permission)
      ? (data.permission as Permission)
      : 'none';
  } catch (err) {
    if ((err as { status?: number }).status === 404) return 'none';
    throw err;
  }
}

const refusal = (user: string, what: string, need: Permission, have: Permission) =>
  `Sorry @${user}, ${what} needs **${need}** permission on this repository and you have **${have}**. Nothing was changed.`;

/** Runs a command; returns the answer to post. */
export async function runCommand(
  deps: GantryDeps,
  gh: Octokit,
  cmd: ParsedCommand,
  input: CommandInput,
): Promise<string> {
  if (cmd.kind === 'help') return HELP;
  const environment = cmd.kind === 'status' ? undefined : cmd.environment;
  const need = requiredPermission(input.config, cmd.kind as Command, environment);
  const have = await permissionOf(gh, input.repo, input.commenter);
  if (!atLeast(have, need)) {
    const what = environment ? `\`/gantry ${cmd.kind}\` on ${environment}` : `\`/gantry ${cmd.kind}\``;
    return refusal(input.commenter, what, need, have);
  }
  try {
    switch (cmd.kind) {
      case 'status':
        return await status(deps, input);
      case 'rollback':
        return await rollback(deps, gh, input, cmd.environment, cmd.to);
      case 'deploy':
        return await deploy(deps, gh, input, cmd.environment);
      case 'scale':
        return await scale(deps, input, cmd.environment, cmd.settings);
    }
  } catch (err) {
    if (err instanceof ControlApiError) return `Gantry control refused: ${err.message}`;
    throw err;
  }
}

const owner = (input: CommandInput) => input.repo.owner.toLowerCase();

async function rollback(
  deps: GantryDeps,
  gh: Octokit,
  input: CommandInput,
  environment: string,
  to: number | undefined,
): Promise<string> {
  const app = input.config.app;
  const id = endpointId(input.repo.owner, app, environment);
  const revisions = await deps.control.revisions(owner(input), app, environment);
  const active = revisions.find((r) => r.active);
  if (!active) return `\`${id}\` has no active revision to roll back from.`;
  const target =
    to === undefined
      ? revisions.filter((r) => r.number < active.number).sort((a, b) => b.number - a.number)[0]
      : revisions.find((r) => r.number === to);
  if (!target) {
    return to === undefined
      ? `Revision ${active.number} is the first revision of ${environment}: there is nothing before it to roll back to.`
      : `${environment} has no revision ${to} (it has ${revisions.map((r) => r.number).join(', ')}).`;
  }
  if (target.number === active.number)
    return `Revision ${target.number} is already active on ${environment}.`;
  const reason = `/gantry rollback by @${input.commenter} (${input.commentUrl})`;
  const repository = `${input.repo.owner}/${input.repo.repo}`;
  // A push waiting for its build must not roll the environment forward again after this.
  await supersedeAll(
    deps,
    gh,
    input.repo,
    environment,
    `Superseded by a rollback to revision ${target.number}`,
  );
  await deps.locks.run(`${repository.toLowerCase()} ${environment}`, async () => {
    await deps.control.rollout(owner(input), app, environment, target.number, {
      by: `github:${input.commenter}`,
      reason,
      strategy: 'recreate',
    });
  });
  await deps.ledger.addRollout({
    repository,
    environment,
    revision: target.number,
    kind: 'rollback',
    by: input.commenter,
    reason,
    at: deps.clock(),
  });
  if (target.commit_sha) {
    // Tell GitHub's environment view where the environment now stands.
    const created = await gh.rest.repos.createDeployment({
      ...input.repo,
      ref: target.commit_sha,
      environment,
      auto_merge: false,
      required_contexts: [],
      production_environment: environment === 'production',
      description: `Rollback to revision ${target.number} by @${input.commenter}`,
      payload: { gantry: { app: `${owner(input)}/${app}`, environment, rollback: target.number } },
    });
    const deploymentId = (created.data as { id?: number }).id;
    if (typeof deploymentId === 'number') {
      await gh.rest.repos.createDeploymentStatus({
        ...input.repo,
        deployment_id: deploymentId,
        state: 'success',
        description: `Rolled back to revision ${target.number} by @${input.commenter}`,
      });
    }
  }
  const commit = target.commit_sha ? ` (${shortSha(target.commit_sha)})` : '';
  return `↩️ Rolled **${environment}** of \`${id}\` back from revision ${active.number} to revision ${target.number}${commit}: instant, the old image is reused. Recorded as a rollout by @${input.commenter}.`;
}

async function deploy(
  deps: GantryDeps,
  gh: Octokit,
  input: CommandInput,
  environment: string,
): Promise<string> {
  if (!deployableFromComments(input.config, environment)) {
    return `\`.github/gantry.yml\` does not allow \`/gantry deploy\` to **${environment}** (set \`environments.${environment}.deploy_from_comments: true\` to allow it). Nothing was changed.`;
  }
  const { data: pull } = await gh.rest.pulls.get({ ...input.repo, pull_number: input.pullNumber });
  // The code settings come from the head being deployed; the permission rules came from the default branch.
  const atHead = await loadRepositoryConfig(gh, input.repo, pull.head.sha);
  if (atHead.kind !== 'ok') {
    return `This pull request's head ${shortSha(pull.head.sha)} has ${atHead.kind === 'missing' ? 'no' : 'an invalid'} \`.github/gantry.yml\`: nothing was deployed.`;
  }
  const config = atHead.config;
  const { outcome } = await startDeployment(deps, gh, {
    repo: input.repo,
    installationId: input.installationId,
    environment,
    commit: pull.head.sha,
    ref: `refs/heads/${pull.head.ref}`,
    transient: false,
    plan: {
      owner: input.repo.owner,
      app: config.app,
      auth: config.auth,
      code: config.code,
      scaling: scalingFor(config, environment),
      message: `#${pull.number} ${pull.title} (deployed by /gantry deploy)`,
      by: input.commenter,
      pull_number: pull.number,
    },
  });
  const id = endpointId(input.repo.owner, config.app, environment);
  switch (outcome.kind) {
    case 'success':
      return `🚀 Deployed ${shortSha(pull.head.sha)} to **${environment}**: revision ${outcome.revision} of \`${id}\`.`;
    case 'failure':
      return `❌ Deploying ${shortSha(pull.head.sha)} to **${environment}** failed: ${outcome.reason}`;
    default:
      return `⏳ Deploying ${shortSha(pull.head.sha)} to **${environment}**: waiting for its build; the deployment on this pull request will show when it is live.`;
  }
}

async function scale(
  deps: GantryDeps,
  input: CommandInput,
  environment: string,
  settings: Record<string, number>,
): Promise<string> {
  await deps.control.setScaling(owner(input), input.config.app, environment, settings);
  const list = Object.entries(settings)
    .map(([k, v]) => `\`${k}=${v}\``)
    .join(', ');
  return `⚖️ Scaling of **${environment}** (\`${endpointId(input.repo.owner, input.config.app, environment)}\`) is now ${list}. Kept across deploys (a value set in \`.github/gantry.yml\` is applied again on the next deploy).`;
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

async function status(deps: GantryDeps, input: CommandInput): Promise<string> {
  const app = input.config.app;
  const envs = await deps.control.environments(owner(input), app);
  if (!envs || envs.length === 0) return `\`${owner(input)}/${app}\` has not been deployed yet.`;
  const repository = `${input.repo.owner}/${input.repo.repo}`;
  const rows = [
    '| environment | endpoint | active revision | runners | queued | last rollout |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const e of envs) {
    const [runners, queued, last] = await Promise.all([
      deps.control.runnerCount(owner(input), app, e.name),
      deps.control.queueDepth(owner(input), app, e.name),
      deps.ledger.lastRollout(repository, e.name),
    ]);
    const lastText = last
      ? `revision ${last.revision}, ${last.kind} by @${last.by}, ${ago(deps.clock() - last.at)}`
      : '—';
    rows.push(
      `| ${e.name} | \`${e.endpoint_id}\` | ${e.active_revision ?? '—'} | ${runners} | ${queued} | ${lastText} |`,
    );
  }
  return rows.join('\n');
}
