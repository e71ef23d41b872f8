/**
 * The App on its own, apart from control: Probot's server (`run`) on PORT (3000), webhooks at
 * `/api/github/webhooks`, signatures checked by Probot. Without APP_ID and PRIVATE_KEY, Probot serves
 * its setup page, which registers the App from `github-app/app.yml` (run it from `github-app/`).
 *
 * Settings: APP_ID, PRIVATE_KEY (or PRIVATE_KEY_PATH), WEBHOOK_SECRET, GHE_HOST as Probot reads them;
 * GANTRY_URL and GANTRY_KEY (control and an admin key); GANTRY_PUBLIC_URL (what callers use;
 * default GANTRY_URL); DATABASE_URL (keeps the deployment ledger in control's PostgreSQL; unset,
 * it lives in memory and pushes waiting for a build are forgotten on restart).
 */
import { run } from 'probot';
import { Store } from '../../control/src/store/store.ts';
import { PgClient } from '../../sql/src/pg-client.ts';
import { HttpControlClient } from './control-client.ts';
import { type DeploymentLedger, MemoryLedger } from './deployment-ledger.ts';
import { createGantryApp } from './index.ts';
import { SqlLedger } from './sql-ledger.ts';

const PREVIEW_SWEEP_MS = 15 * 60_000;

async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const url = env['GANTRY_URL'];
  const key = env['GANTRY_KEY'];
  if (!url || !key) {
    console.error('gantry github-app: set GANTRY_URL (control) and GANTRY_KEY (an admin key).');
    process.exit(2);
  }
  let ledger: DeploymentLedger = new MemoryLedger();
  if (env['DATABASE_URL']) {
    const db = await PgClient.open(env['DATABASE_URL']);
    await new Store(db).migrate();
    ledger = new SqlLedger(db);
  } else {
    console.warn('gantry github-app: no DATABASE_URL; pushes waiting for a build are kept in memory only.');
  }
  const publicUrl = env['GANTRY_PUBLIC_URL'] || url;
  const gantry = createGantryApp({
    control: new HttpControlClient({ url, key }),
    ledger,
    publicUrl: () => publicUrl,
  });
  await run(gantry.app);
  setInterval(() => {
    gantry.expirePreviews().catch((err: unknown) => console.error('expiring previews failed', err));
  }, PREVIEW_SWEEP_MS).unref();
}

void main();
