/**
 * `npm start`: control on the embedded defaults, with examples/hello deployed as local/hello.
 */

import type { ControlExtension } from '../../contract/src/extension.ts';
import { GitHubAppConfigError, gitHubAppExtension, loadMountedConfig } from '../../github-app/index.ts';
import { ensureAdminKey } from './auth.ts';
import { ConfigError, loadConfig } from './config.ts';
import { deployExample, EXAMPLE } from './example-app.ts';
import { startServer } from './server.ts';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  // The one place control is composed with its extensions: the GitHub App, when configured.
  const extensions: ControlExtension[] = [];
  try {
    config = loadConfig();
    const github = loadMountedConfig();
    if (github) extensions.push(gitHubAppExtension({ github }));
  } catch (err) {
    if (err instanceof ConfigError || err instanceof GitHubAppConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const service = await startServer(config, { extensions }).catch((err: Error) => {
    console.error(`gantry: could not start: ${err.message}`);
    process.exit(1);
  });
  const admin = await ensureAdminKey(service.store, config.dataDir, config.adminKey);
  let deployed = '';
  // The example is a local command; only the process driver runs those.
  if (config.deployExample && config.compute === 'process') {
    const d = await deployExample(service.store);
    deployed = `Deployed examples/hello as ${EXAMPLE.owner}/${EXAMPLE.name} (revision ${d.revision}, public).`;
  }
  const u = service.url;
  const keyRef = admin.source === 'setting' ? '$GANTRY_ADMIN_KEY' : `$(cat ${admin.file})`;
  const keyLine =
    admin.source === 'setting'
      ? 'Admin key: the value of GANTRY_ADMIN_KEY.'
      : admin.source === 'generated'
        ? `Admin key (shown once; also kept in ${admin.file}, mode 0600):\n  ${admin.key}`
        : `Admin key: in ${admin.file}`;
  const tryIt = deployed
    ? `Try it:
  curl -s -X POST ${u}/run/local/hello -H 'content-type: application/json' -d '{"name":"Ada"}'

From the fal client (npm i @fal-ai/client):
  import { fal } from '@fal-ai/client';
  fal.config({ proxyUrl: { url: '${u}/fal/proxy', when: 'always' } });
  const { data } = await fal.subscribe('local/hello', { input: { name: 'Ada' }, logs: true });

Watch runners start and stop:
  curl -s ${u}/v1/apps/local/hello/environments/production/runners -H "Authorization: Key ${keyRef}"
`
    : `Deploy an image (by digest): it creates the app, and serves once a runner of it is healthy:
  npx gantry deploy --image <repo>@sha256:<digest> --app <owner>/<name> --auth public \\
    --url ${u} --key "${keyRef}"
Then:
  curl -s -X POST ${u}/run/<owner>/<name> -H 'content-type: application/json' -d '{…}'
`;
  console.log(`
Gantry control is listening on ${u}
Web console: ${u}/ (sign in with the admin key)
${deployed}

${tryIt}
${keyLine}
API reference: ${u}/openapi.json
Metrics: ${u}/metrics   Events: gantry events local/hello --follow
`);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    service.app.log.info({ signal }, 'shutting down: draining runners');
    service
      .close()
      .then(() => process.exit(0))
      .catch((err) => {
        console.error(err);
        process.exit(1);
      });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

void main();
