/**
 * The App on its own, apart from control: Probot's server on PORT (3000), webhooks at
 * `/api/github/webhooks`, signatures checked by Probot. Without APP_ID and PRIVATE_KEY, Probot serves
 * its setup page, which registers the App from `github-app/app.yml` (run it from `github-app/`) and
 * writes the credentials to `.env`, read here at the next start.
 *
 * It talks to control over HTTP (GANTRY_URL, GANTRY_KEY) and never opens control's store: its
 * ledger is its own, PGlite in `<GANTRY_DATA_DIR>/github-app` or PostgreSQL at DATABASE_URL.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { run } from 'probot';
import { PgClient } from '../../sql/src/pg-client.ts';
import { PgliteClient } from '../../sql/src/pglite-client.ts';
import { GitHubAppConfigError, loadConfig, type StandaloneConfig } from './config.ts';
import { HttpControlClient } from './control-client.ts';
import { createGantryApp } from './index.ts';
import { migrate } from './migrations.ts';
import { SqlLedger } from './sql-ledger.ts';

const PREVIEW_SWEEP_MS = 15 * 60_000;

async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  let config: StandaloneConfig;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof GitHubAppConfigError) {
      console.error(`gantry github-app: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const db = config.databaseUrl
    ? await PgClient.open(config.databaseUrl)
    : await PgliteClient.open(path.join(config.dataDir, 'github-app'));
  await migrate(db);
  const gantry = createGantryApp({
    control: new HttpControlClient({ url: config.controlUrl, key: config.controlKey }),
    ledger: new SqlLedger(db),
    publicUrl: () => config.publicUrl,
  });
  const { github } = config;
  // Probot reads its own settings from this environment: hand it the parsed ones.
  await run(gantry.app, {
    env: {
      ...process.env,
      PORT: String(config.port),
      ...(config.host ? { HOST: config.host } : {}),
      ...(github
        ? {
            APP_ID: String(github.appId),
            PRIVATE_KEY: github.privateKey,
            WEBHOOK_SECRET: github.webhookSecret,
            PRIVATE_KEY_PATH: undefined,
          }
        : {}),
    },
  });
  setInterval(() => {
    gantry.expirePreviews().catch((err: unknown) => console.error('expiring previews failed', err));
  }, PREVIEW_SWEEP_MS).unref();
}

void main();
