/** Rows the store contract suites start from, made through the store itself. */
import { parseCodeSettings } from '../../../contract/src/scaling-settings.ts';
import type { Store } from '../store/store.ts';

/** An app whose production environment has one active revision. */
export async function appWithRevision(store: Store) {
  const app = await store.apps.create('acme', 'sd', 'private');
  const env = (await store.apps.getEnvironment(app.id, 'production'))!;
  const rev = await store.revisions.create(env.id, { command: ['true'], settings: parseCodeSettings() });
  await store.apps.setActiveRevision(env.id, rev.id);
  return { app, env, rev };
}

/** A plain queued request of an environment, as the fal API makes one. */
export function newRequest(store: Store, environment_id: string) {
  return store.requests.create({
    environment_id,
    path: '',
    input: {},
    priority: 'normal',
    no_retry: false,
    start_deadline: null,
  });
}
