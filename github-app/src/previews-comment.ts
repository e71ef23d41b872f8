/**
 * The one comment a pull request gets about its preview, kept up to date rather than repeated. It
 * is found again by a hidden HTML marker, so GitHub itself remembers it: nothing to store.
 */
import type { GantryDeps, Octokit, Repo } from './app-deps.ts';
import { consoleUrl, howToCall, shortSha } from './endpoint.ts';

export const PREVIEW_MARKER = '<!-- gantry:preview -->';

/** Edits the marked comment, or creates it the first time. */
export async function upsertPreviewComment(
  gh: Octokit,
  repo: Repo,
  pull: number,
  text: string,
): Promise<void> {
  const body = `${PREVIEW_MARKER}\n${text}`;
  const comments = await gh.paginate(gh.rest.issues.listComments, {
    ...repo,
    issue_number: pull,
    per_page: 100,
  });
  const mine = comments.find((c) => c.body?.includes(PREVIEW_MARKER));
  if (mine) await gh.rest.issues.updateComment({ ...repo, comment_id: mine.id, body });
  else await gh.rest.issues.createComment({ ...repo, issue_number: pull, body });
}

export const previewQueuedText = (environment: string, commit: string) =>
  `⏳ Preview **${environment}**: deploying ${shortSha(commit)}, waiting for its build.`;

export async function previewLive(
  deps: GantryDeps,
  gh: Octokit,
  repo: Repo,
  pull: number,
  d: { revision: number; environment: string; endpoint: string; commit: string },
): Promise<void> {
  await upsertPreviewComment(
    gh,
    repo,
    pull,
    [
      `✅ Preview **${d.environment}** is live: ${shortSha(d.commit)} is revision ${d.revision} of \`${d.endpoint}\`.`,
      '',
      howToCall(deps.publicUrl(), d.endpoint),
      '',
      `Runners, requests and logs: [the console](${consoleUrl(deps.publicUrl(), d.endpoint)}).`,
    ].join('\n'),
  );
}

export const previewRemovedText = (environment: string, why: string) =>
  `🧹 Preview **${environment}** was torn down (${why}).`;
