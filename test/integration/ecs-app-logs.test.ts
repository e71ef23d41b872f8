/**
 * Control on ECS (GANTRY_COMPUTE=ecs against the ECS stand-in, which runs each task in podman) with
 * a plain app image that knows nothing of Gantry but the log prefix: what the app prints while it
 * serves a request reaches that request's logs through the task's FireLens log router and the
 * runner, as on AWS; and deleting the app leaves none of its secrets in Secrets Manager.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushNodeBase } from '../support/base-image.ts';
import { eventually, startTestControl, type TestControl } from '../support/control.ts';
import { type EcsStandin, startEcsStandin } from '../support/ecs-standin.ts';
import { buildGantryImage, buildImageFrom } from '../support/gantry-images.ts';
import { startTestRegistry, type TestRegistry } from '../support/oci-registry.ts';
import { startTestEngine, type TestEngine } from '../support/podman.ts';

/**
 * Any HTTP server: it prints with the contract's prefix, to stdout and stderr, and one line without
 * (attributed by when it was written, since the router posts in batches), then answers.
 */
const APP = `
const http = require('node:http');
console.log('plain app up on ' + process.env.PORT);
http.createServer((q, s) => {
  if (q.method === 'GET') return s.end('ok');
  let body = '';
  q.on('data', (c) => (body += c));
  q.on('end', () => {
    const tag = '[gantry:req=' + q.headers['x-fal-request-id'] + '] ';
    console.log(tag + 'plain app got ' + body + ' with ' + (process.env.API_TOKEN ? 'its token' : 'no token'));
    console.error(tag + 'plain app warns on stderr');
    console.log('plain app line without a prefix');
    setTimeout(() => {
      s.setHeader('content-type', 'application/json');
      s.end(JSON.stringify({ served: true }));
    }, 100);
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

describe('app logs on ECS, through FireLens', { timeout: 300_000 }, () => {
  let registry: TestRegistry;
  let engine: TestEngine;
  let ecs: EcsStandin;
  let control: TestControl;
  let appImage: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    registry = await startTestRegistry();
    engine = await startTestEngine({ insecureRegistries: [registry.host] });
    const base = await pushNodeBase(registry.host);
    const [runner, app] = await Promise.all([
      buildGantryImage({
        component: 'runner',
        baseImage: base,
        tag: 'localhost/gantry/runner:logs',
        env: engine.env,
      }),
      buildImageFrom({
        containerfile: `FROM ${base}\nCOPY app.cjs /app.cjs\nCMD ["node", "/app.cjs"]\n`,
        files: { 'app.cjs': APP },
        tag: 'localhost/plain-app:logs',
        env: engine.env,
      }),
    ]);
    appImage = app;
    ecs = await startEcsStandin({
      engine,
      clusters: ['gantry'],
      capacityProviders: {
        'pool-cpu': { gpusPerInstance: 0, tasksPerInstance: 4, maxInstances: 1, bootMs: 300 },
      },
    });
    // The AWS SDK reads its endpoint and credentials from the process, as in a task on AWS.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_ECS: ecs.endpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    control = await startTestControl({
      drainGraceSeconds: 2,
      env: {
        GANTRY_COMPUTE: 'ecs',
        GANTRY_ECS_REGION: ecs.region,
        GANTRY_ECS_SUBNETS: 'subnet-1',
        GANTRY_ECS_CAPACITY_PROVIDERS: JSON.stringify({ CPU: 'pool-cpu' }),
        GANTRY_ECS_RUNNER_IMAGE: runner.tag,
        GANTRY_ECS_EXECUTION_ROLE_ARN: 'arn:aws:iam::000000000000:role/exec',
        GANTRY_ECS_POLL_MS: '500',
        AWS_ENDPOINT_URL_SECRETS_MANAGER: ecs.endpoint,
      },
    });
  }, 300_000);

  afterAll(async () => {
    await control?.close();
    await ecs?.close();
    await engine?.close();
    await registry?.close();
    process.env = saved;
  });

  it("a request's logs hold what the app printed; deleting the app deletes its secrets from Secrets Manager", async () => {
    const A = '/v1/apps/test/ecslogs';
    const ok = async (r: Promise<Response>) => {
      const res = await r;
      expect(res.status, await res.clone().text()).toBeLessThan(300);
      return res;
    };
    await ok(control.admin('/v1/apps', { body: { owner: 'test', name: 'ecslogs', auth_mode: 'public' } }));
    await ok(
      control.admin(`${A}/environments/production/secrets`, {
        method: 'PUT',
        body: { secrets: { API_TOKEN: 'tok_ecs_logs_1234' } },
      }),
    );
    await ok(
      control.admin(`${A}/environments/production/revisions`, {
        body: { image: appImage, settings: { machine_type: 'CPU' }, activate: true, strategy: 'recreate' },
      }),
    );

    const submitted = (await (
      await ok(
        fetch(`${control.url}/queue/test/ecslogs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ hello: 'ecs' }),
        }),
      )
    ).json()) as { request_id: string };
    const id = submitted.request_id;
    // Fluent Bit posts in batches, so a line may land after the answer: poll for it.
    const logs = await eventually(
      async () => {
        const res = await fetch(`${control.url}/queue/test/ecslogs/requests/${id}/status?logs=1`);
        const body = (await res.json()) as { status: string; logs?: { message: string; level: string }[] };
        const lines = body.logs ?? [];
        const all =
          lines.some((l) => l.level === 'STDERR') && lines.some((l) => l.message.includes('without'));
        return body.status === 'COMPLETED' && all ? lines : undefined;
      },
      180_000,
      'the request completed with the app lines in its logs',
    );
    expect(logs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ message: 'plain app got {"hello":"ecs"} with its token', level: 'STDOUT' }),
        expect.objectContaining({ message: 'plain app warns on stderr', level: 'STDERR' }),
        expect.objectContaining({ message: 'plain app line without a prefix', level: 'STDOUT' }),
      ]),
    );
    const task = ecs.tasks.find((t) => t.lastStatus === 'RUNNING')!;
    expect(task.containers.map((c) => c.name).sort()).toEqual(['app', 'log_router', 'runner']);

    const mine = () =>
      Object.keys(ecs.secretsByName()).filter((n) => /\/(API_TOKEN|gantry-runner-key)$/.test(n));
    expect(mine()).toHaveLength(2);
    await ok(control.admin(A, { method: 'DELETE' }));
    expect(mine()).toEqual([]);
  });
});
