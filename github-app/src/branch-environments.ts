/**
 * Which environment a branch deploys to, and the names of pull-request previews. Globs as in
 * GitHub's branch filters: `*` matches within one path segment, `**` across segments.
 */
import type { GantryConfig } from './gantry-config.ts';

const PREVIEW = /^pr-(\d+)$/;

function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      out += '.*';
      i++;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

/** The environment `branch` deploys to, or undefined. An exact name wins over a glob; then file order. */
export function environmentForBranch(config: GantryConfig, branch: string): string | undefined {
  const exact = Object.hasOwn(config.branches, branch) ? config.branches[branch] : undefined;
  if (exact) return exact;
  for (const [glob, env] of Object.entries(config.branches)) {
    if (globToRegExp(glob).test(branch)) return env;
  }
  return undefined;
}

/** The branch name of a `refs/heads/…` ref, or undefined for tags and other refs. */
export function branchOfRef(ref: string): string | undefined {
  return ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : undefined;
}

export const previewEnvironment = (pullNumber: number) => `pr-${pullNumber}`;

/** The pull request number of a preview environment's name, or undefined. */
export function previewNumber(environment: string): number | undefined {
  const m = PREVIEW.exec(environment);
  return m ? Number(m[1]) : undefined;
}
