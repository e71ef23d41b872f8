/**
 * A merged pull request becomes the revision's message and annotations (number, title, author,
 * merge commit), and gets a comment saying where it went and how to call it. The pull request is
 * found from the deployed commit (GitHub's commit → pull requests lookup), so the result is the
 * same whether the push or the `pull_request.closed` event arrives first.
 */
import type { GantryDeps, Octokit, Repo } from './app-deps.ts';
import { consoleUrl, howToCall, shortSha } from './endpoint.ts';

export interface MergedPullRequest {
  number: number;
  title: string;
  author: string;
  merge_commit_sha: string;
  html_url: string;
}

/** The pull request whose merge produced `commit`, or undefined for a plain push. */
export async function findMergedPullRequest(
  gh: Octokit,
  repo: Repo,
  commit: string,
): Promise<MergedPullRequest | undefined> {
  const res = await gh.rest.repos.listPullRequestsAssociatedWithCommit({ ...repo, commit_sha: commit });
  const pr = res.data.find((p) => p.merged_at && p.merge_commit_sha === commit);
  if (!pr) return undefined;
  return {
    number: pr.number,
    title: pr.title,
    author: pr.user?.login ?? 'unknown',
    merge_commit_sha: commit,
    html_url: pr.html_url,
  };
}

/** The revision's message and annotations for a merged pull request. */
export function revisionNote(pr: MergedPullRequest): {
  message: string;
  annotations: Record<string, unknown>;
} {
  return {
    message: `#${pr.number} ${pr.title}`,
    annotations: {
      pull_request: pr.number,
      pull_request_title: pr.title,
      pull_request_author: pr.author,
      merge_commit: pr.merge_commit_sha,
      pull_request_url: pr.html_url,
    },
  };
}

export function mergedComment(
  publicUrl: string,
  pr: MergedPullRequest,
  d: { revision: number; environment: string; endpoint: string },
): string {
  return [
    `🚀 Deployed by Gantry: merge commit ${shortSha(pr.merge_commit_sha)} is **revision ${d.revision}** of **${d.environment}**, endpoint \`${d.endpoint}\`.`,
    '',
    howToCall(publicUrl, d.endpoint),
    '',
    `Roll back with \`/gantry rollback ${d.environment}\`, or from [the console](${consoleUrl(publicUrl, d.endpoint, 'revisions')}).`,
  ].join('\n');
}

export async function commentOnMergedPullRequest(
  deps: GantryDeps,
  gh: Octokit,
  repo: Repo,
  pr: MergedPullRequest,
  d: { revision: number; environment: string; endpoint: string },
): Promise<void> {
  await gh.rest.issues.createComment({
    ...repo,
    issue_number: pr.number,
    body: mergedComment(deps.publicUrl(), pr, d),
  });
}
