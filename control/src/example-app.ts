/**
 * `npm start` deploys examples/hello as the public endpoint local/hello, so a newcomer has
 * something to call. A new revision is made only when the command or settings changed.
 */
import { fileURLToPath } from 'node:url';
import { type CodeSettings, parseCodeSettings } from '../../contract/src/scaling-settings.ts';
import type { Store } from './store/store.ts';

export const EXAMPLE = { owner: 'local', name: 'hello' } as const;
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export async function deployExample(store: Store): Promise<{ revision: number; created: boolean }> {
  const app =
    (await store.apps.get(EXAMPLE.owner, EXAMPLE.name)) ??
    (await store.apps.create(EXAMPLE.owner, EXAMPLE.name, 'public'));
  const env = await store.apps.ensureEnvironment(app.id, 'production');
  const command = ['node', '--import', 'tsx', 'examples/hello/app.ts'];
  const settings = parseCodeSettings({ max_multiplexing: 4, startup_timeout: 60 });
  const active = env.active_revision_id ? await store.revisions.get(env.active_revision_id) : undefined;
  if (
    active &&
    JSON.stringify(active.command) === JSON.stringify(command) &&
    active.cwd === REPO_ROOT &&
    sameSettings(active.settings, settings)
  ) {
    return { revision: active.number, created: false };
  }
  const rev = await store.revisions.create(env.id, {
    command,
    cwd: REPO_ROOT,
    settings,
    message: 'examples/hello, deployed by npm start',
    created_by: 'npm start',
  });
  await store.apps.setActiveRevision(env.id, rev.id);
  return { revision: rev.number, created: true };
}

/** The database keeps JSON objects in its own key order, so compare field by field. */
function sameSettings(a: CodeSettings, b: CodeSettings): boolean {
  return (
    a.max_multiplexing === b.max_multiplexing &&
    a.startup_timeout === b.startup_timeout &&
    a.machine_type.join(',') === b.machine_type.join(',')
  );
}
