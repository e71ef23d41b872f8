/**
 * Who may register builds by default: the repositories this GitHub App is installed on. Control
 * asks through its extension port (mayRegisterBuilds) when GANTRY_BUILD_REPOSITORIES is unset; the
 * App asks GitHub (`GET /repos/{owner}/{repo}/installation`, as the App) and keeps each answer a
 * minute, so a workflow's burst of registrations costs one call.
 */

/** The App's own client (JWT), or the part of it this needs. */
export interface AppRequester {
  request(route: string, params: Record<string, unknown>): Promise<{ status: number }>;
}

const KEEP_MS = 60_000;

export function installedRepositories(
  appClient: () => Promise<AppRequester>,
  clock: () => number,
): (repository: string) => Promise<boolean> {
  const known = new Map<string, { installed: boolean; until: number }>();
  return async (repository) => {
    const key = repository.toLowerCase();
    const hit = known.get(key);
    if (hit && hit.until > clock()) return hit.installed;
    const [owner, repo] = key.split('/');
    if (!owner || !repo) return false;
    let installed: boolean;
    try {
      await (await appClient()).request('GET /repos/{owner}/{repo}/installation', { owner, repo });
      installed = true;
    } catch (err) {
      // 404: not installed there (or no such repository). Anything else: GitHub could not say.
      if ((err as { status?: number }).status !== 404) throw err;
      installed = false;
    }
    known.set(key, { installed, until: clock() + KEEP_MS });
    return installed;
  };
}
