/**
 * Reads `.github/gantry.yml` from a repository at a commit and reports an invalid one on that
 * commit as a failed check run, each problem annotated on its line.
 */
import type { Octokit, Repo } from './app-deps.ts';
import { CONFIG_PATH, type ConfigProblem, type GantryConfig, parseGantryConfig } from './gantry-config.ts';

export type LoadedConfig =
  | { kind: 'missing' }
  | { kind: 'invalid'; problems: ConfigProblem[] }
  | { kind: 'ok'; config: GantryConfig };

export const CHECK_NAME = 'Gantry config';

const status = (err: unknown) => (err as { status?: number }).status;

/** The file at `ref` (the default branch when undefined). A repository without one is not a Gantry repository. */
export async function loadRepositoryConfig(gh: Octokit, repo: Repo, ref?: string): Promise<LoadedConfig> {
  let content: string;
  try {
    const res = await gh.rest.repos.getContent({ ...repo, path: CONFIG_PATH, ...(ref ? { ref } : {}) });
    const data = res.data as { type?: string; content?: string; encoding?: string };
    if (data.type !== 'file' || typeof data.content !== 'string') return { kind: 'missing' };
    content = Buffer.from(data.content, data.encoding === 'base64' ? 'base64' : 'utf8').toString('utf8');
  } catch (err) {
    if (status(err) === 404) return { kind: 'missing' };
    throw err;
  }
  const parsed = parseGantryConfig(content);
  return parsed.ok ? { kind: 'ok', config: parsed.config } : { kind: 'invalid', problems: parsed.problems };
}

/** A failed check run on `sha` with one annotation per problem; nothing is deployed from the file. */
export async function reportInvalidConfig(
  gh: Octokit,
  repo: Repo,
  sha: string,
  problems: ConfigProblem[],
): Promise<void> {
  const list = problems.map((p) => `- line ${p.line}: ${p.message}`).join('\n');
  await gh.rest.checks.create({
    ...repo,
    name: CHECK_NAME,
    head_sha: sha,
    status: 'completed',
    conclusion: 'failure',
    output: {
      title: `${CONFIG_PATH} is not valid`,
      summary: `Nothing was deployed from this commit. Fix ${CONFIG_PATH}:\n\n${list}`,
      // GitHub takes at most 50 annotations per call.
      annotations: problems.slice(0, 50).map((p) => ({
        path: CONFIG_PATH,
        start_line: p.line,
        end_line: p.endLine,
        annotation_level: 'failure' as const,
        message: p.message,
      })),
    },
  });
}
