/**
 * The ECS driver against the ECS stand-in (test/support/ecs-standin.ts), which runs each task's
 * containers for real in podman: the runner image beside a small app image. What only a real ECS
 * shows: a task waits in PROVISIONING while managed scaling boots an instance, a pool that cannot
 * grow leaves it waiting, the pull happens after placement, and tasks outlive control.
 */

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushNodeBase } from '../../../test/support/base-image.ts';
import { type EcsStandin, startEcsStandin } from '../../../test/support/ecs-standin.ts';
import { buildGantryImage, buildImageFrom } from '../../../test/support/gantry-images.ts';
import { startTestRegistry, type TestRegistry } from '../../../test/support/oci-registry.ts';
import { startTestEngine, type TestEngine } from '../../../test/support/podman.ts';
import type { Revision } from '../domain.ts';
import { RUNNER_KEY_SECRET, type SecretReferences } from '../secrets/environment-secrets.ts';
import { SecretsManagerMirror } from '../secrets/secrets-manager.ts';
import type { RunnerExit, RunnerProgress, RunnerSpec } from './compute-driver.ts';
import { createEcsClient } from './ecs-client.ts';
import { EcsCompute } from './ecs-compute.ts';

const APP = `
console.log('tiny app listening on ' + process.env.PORT);
if (process.env.HF_TOKEN) console.log('tiny app has HF_TOKEN of ' + process.env.HF_TOKEN.length + ' characters');
require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

/** The A10G pool cannot grow (its instance type is sold out); the L4 pool boots from zero. */
const POOLS = {
  'pool-a10g': { gpusPerInstance: 1, maxInstances: 0, bootMs: 0 },
  'pool-l4': { gpusPerInstance: 1, maxInstances: 2, bootMs: 1_500, scaleInAfterMs: 2_000 },
};

let registry: TestRegistry;
let engine: TestEngine;
let ecs: EcsStandin;
let appImage: string;
let runnerImage: string;
let mirror: SecretsManagerMirror;
/** The environment's runner key, in the stand-in's Secrets Manager. */
let secrets: SecretReferences;
const RUNNER_KEY = randomBytes(32).toString('base64url');

beforeAll(async () => {
  registry = await startTestRegistry();
  engine = await startTestEngine({ insecureRegistries: [registry.host] });
  const base = await pushNodeBase(registry.host);
  [runnerImage, appImage] = await Promise.all([
    buildGantryImage({
      component: 'runner',
      baseImage: base,
      tag: 'localhost/gantry/runner:test',
      env: engine.env,
    }).then((b) => b.tag),
    buildImageFrom({
      containerfile: `FROM ${base}\nCOPY app.cjs /app.cjs\nCMD ["node", "/app.cjs"]\n`,
      files: { 'app.cjs': APP },
      tag: 'localhost/tiny-app:test',
      env: engine.env,
    }),
  ]);
  ecs = await startEcsStandin({
    engine,
    clusters: ['gantry'],
    capacityProviders: POOLS,
    provisioningTimeoutMs: 60_000,
  });
  mirror = new SecretsManagerMirror({
    region: ecs.region,
    endpoint: ecs.endpoint,
    credentials: async () => ({ accessKeyId: 'test', secretAccessKey: 'test' }),
    prefix: 'gantry',
  });
  const refs = await mirror.sync('env-ecs', { [RUNNER_KEY_SECRET]: RUNNER_KEY });
  secrets = { app: {}, runnerKey: { value: RUNNER_KEY, valueFrom: refs[RUNNER_KEY_SECRET]! } };
}, 300_000);

afterAll(async () => {
  await ecs?.close();
  await engine?.close();
  await registry?.close();
});

const revision = (number: number, machineType: string[]): Revision => ({
  id: `rev-${number}`,
  environment_id: 'env-ecs',
  number,
  image: appImage,
  command: null,
  cwd: null,
  settings: { max_multiplexing: 1, startup_timeout: 60, machine_type: machineType },
  commit_sha: null,
  message: null,
  annotations: {},
  created_by: null,
  created_at: 0,
});

let n = 0;
const spec = (rev: Revision): RunnerSpec => ({
  runnerId: `runner-e${++n}`,
  token: `token-${n}`,
  // Nothing listens there: these cases are about the task's life, not the runner's work.
  controlUrl: 'http://127.0.0.1:9',
  environmentId: rev.environment_id,
  revision: rev,
  env: {},
  secrets,
});

function open(capacityWindowMs = 60_000) {
  const compute = new EcsCompute({
    client: createEcsClient({
      region: ecs.region,
      endpoint: ecs.endpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    }),
    cluster: 'gantry',
    subnets: ['subnet-1'],
    securityGroups: ['sg-1'],
    capacityProviders: { 'GPU-A10G': 'pool-a10g', 'GPU-L4': 'pool-l4' },
    runnerImage,
    logGroup: '/gantry/test',
    region: ecs.region,
    executionRoleArn: 'arn:aws:iam::000000000000:role/exec',
    drainGraceSeconds: 2,
    pollMs: 200,
    capacityWindowMs,
  });
  const exits: RunnerExit[] = [];
  const progress: RunnerProgress[] = [];
  compute.onExit((e) => exits.push(e));
  compute.onProgress((p) => progress.push(p));
  return { compute, exits, progress };
}

const taskOf = (runnerId: string) => (t: EcsStandin['tasks'][number]) =>
  t.tags.some((x) => x.key === 'gantry:runner' && x.value === runnerId);

/** Waits (bounded) until a task's container has printed `text`. */
async function printed(taskArn: string, container: string, text: string): Promise<string> {
  let out = '';
  for (let i = 0; i < 300; i++) {
    out = await ecs.logs(taskArn, container).catch(() => '');
    if (out.includes(text)) return out;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${container} of ${taskArn} never printed "${text}": ${out}`);
}

describe('the ECS driver on the stand-in', { timeout: 120_000 }, () => {
  it('scales from zero: the task waits for an instance to boot, is pulled, and its runner finds the app', async () => {
    const { compute, exits, progress } = open();
    const s = spec(revision(1, ['GPU-L4']));
    await compute.start(s);
    // RunTask accepted it, and no instance exists yet: managed scaling launches one.
    expect(ecs.instances('pool-l4').booting).toBe(1);
    const task = await ecs.waitForTask((t) => taskOf(s.runnerId)(t) && t.lastStatus === 'RUNNING');
    expect(task.pullStartedAt).toBeDefined();
    expect(task.pullStoppedAt).toBeGreaterThanOrEqual(task.pullStartedAt!);
    await printed(task.taskArn, 'runner', 'app healthy');
    // FireLens: the app's output reached the runner through the log router's http output.
    await printed(task.taskArn, 'runner', '[app] tiny app listening on ');
    // The runner's AWS SDK gets its region from the task.
    const env = await engine.podman([
      'inspect',
      '--format',
      '{{json .Config.Env}}',
      `ecs-${task.taskArn.split('/').pop()}-runner`,
    ]);
    expect(JSON.parse(env)).toContain(`AWS_REGION=${ecs.region}`);
    // The wait for an instance ended nothing; the pull was seen and reported.
    for (let i = 0; i < 100 && !progress.some((p) => p.detail.includes('pulled in')); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(progress.at(-1)).toEqual({
      runnerId: s.runnerId,
      state: 'PULLING',
      detail: expect.stringMatching(/^image pulled in \d+\.\d s$/),
    });
    expect(exits).toEqual([]);

    await compute.kill(s.runnerId);
    for (let i = 0; i < 300 && exits.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(exits).toEqual([expect.objectContaining({ runnerId: s.runnerId })]);
    expect(exits[0]!.schedulingFailure).toBeUndefined();
    await compute.close();
  });

  it('secrets go by reference: no value in any ECS call, and the app and the runner still get theirs', async () => {
    const { compute } = open();
    const hf = `hf_${randomBytes(12).toString('hex')}`;
    // Past RunTask's 8,192 characters of overrides, had it travelled there.
    const pem = `-----BEGIN PRIVATE KEY-----\n${randomBytes(7_000).toString('base64')}\n-----END PRIVATE KEY-----`;
    const refs = await mirror.sync('env-ecs', { HF_TOKEN: hf, TLS_KEY: pem });
    expect(Object.keys(ecs.secretsByName())).toEqual(
      expect.arrayContaining(['gantry/env-ecs/HF_TOKEN', 'gantry/env-ecs/TLS_KEY']),
    );
    const s = { ...spec(revision(6, ['GPU-L4'])), secrets: { ...secrets, app: refs } };
    await compute.start(s);
    const task = await ecs.waitForTask((t) => taskOf(s.runnerId)(t) && t.lastStatus === 'RUNNING');
    // The runner opened its sealed token with the key ECS put in, and found the app.
    await printed(task.taskArn, 'runner', 'app healthy');
    await printed(task.taskArn, 'app', `tiny app has HF_TOKEN of ${hf.length} characters`);
    const envOf = async (container: string) =>
      JSON.parse(
        await engine.podman([
          'inspect',
          '--format',
          '{{json .Config.Env}}',
          `ecs-${task.taskArn.split('/').pop()}-${container}`,
        ]),
      ) as string[];
    const appEnv = await envOf('app');
    expect(appEnv).toContain(`HF_TOKEN=${hf}`);
    expect(appEnv).toContain(`TLS_KEY=${pem}`);
    // Each container gets only its own: the runner's key and token are not the app's.
    expect(
      appEnv.filter((e) => e.startsWith('GANTRY_RUNNER_KEY=') || e.startsWith('GANTRY_RUNNER_TOKEN')),
    ).toEqual([]);
    expect(await envOf('runner')).toContain(`GANTRY_RUNNER_KEY=${RUNNER_KEY}`);

    const sent = ecs.calls.map((c) => c.body).join('\n');
    expect(ecs.calls.map((c) => c.op)).toEqual(expect.arrayContaining(['RegisterTaskDefinition', 'RunTask']));
    for (const value of [hf, pem.slice(40, 100), RUNNER_KEY, s.token]) expect(sent).not.toContain(value);
    await compute.kill(s.runnerId);
    await compute.close();
  });

  it('refuses secret values: the ECS driver takes references only', async () => {
    const { compute } = open();
    const s = { ...spec(revision(7, ['GPU-L4'])), env: { HF_TOKEN: 'hf_plain' } };
    await expect(compute.start(s)).rejects.toThrow(/by reference only/);
    expect(ecs.calls.some((c) => c.body.includes('hf_plain'))).toBe(false);
    await compute.close();
  });

  it('a pool that cannot grow: after the capacity window the next machine type runs the task; after the last, a scheduling failure', async () => {
    const { compute, exits } = open(2_000);
    const s = spec(revision(2, ['GPU-A10G', 'GPU-L4']));
    await compute.start(s);
    const running = await ecs.waitForTask((t) => taskOf(s.runnerId)(t) && t.lastStatus === 'RUNNING');
    expect(running.capacityProviderName).toBe('pool-l4');
    const first = ecs.tasks.find((t) => taskOf(s.runnerId)(t) && t.capacityProviderName === 'pool-a10g')!;
    expect(first).toMatchObject({
      lastStatus: 'STOPPED',
      stoppedReason: 'gantry: no instance within the capacity window',
    });
    expect(exits).toEqual([]);
    await compute.kill(s.runnerId);

    const only = spec(revision(3, ['GPU-A10G']));
    await compute.start(only);
    for (let i = 0; i < 300 && !exits.some((e) => e.runnerId === only.runnerId); i++)
      await new Promise((r) => setTimeout(r, 100));
    const exit = exits.find((e) => e.runnerId === only.runnerId);
    expect(exit).toMatchObject({ schedulingFailure: true });
    expect(exit!.tail.join(' ')).toContain('GPU-A10G: no instance within 2 s');
    await compute.close();
  });

  it('a task SIGKILLed (an instance lost) is an exit with the runner code, not a lack of capacity', async () => {
    const { compute, exits } = open();
    const s = spec(revision(4, ['GPU-L4']));
    await compute.start(s);
    const task = await ecs.waitForTask((t) => taskOf(s.runnerId)(t) && t.lastStatus === 'RUNNING');
    await ecs.killTask(task.taskArn);
    for (let i = 0; i < 300 && exits.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(exits).toEqual([expect.objectContaining({ runnerId: s.runnerId, code: 137 })]);
    expect(exits[0]!.schedulingFailure).toBeUndefined();
    expect(task.stopCode).toBe('EssentialContainerExited');
    await compute.close();
  });

  it('after a control restart, tasks no runner record claims are found by startedBy and stopped', async () => {
    const before = open();
    const waiting = spec(revision(5, ['GPU-A10G']));
    await before.compute.start(waiting);
    await before.compute.close();

    const after = open();
    await after.compute.reclaim(async () => false);
    const stopped = await ecs.waitForTask((t) => taskOf(waiting.runnerId)(t) && t.lastStatus === 'STOPPED');
    expect(stopped.stoppedReason).toBe('gantry: no runner record claims this task');
    expect(ecs.calls.some((c) => c.op === 'ListTasks' && JSON.parse(c.body).startedBy === 'gantry')).toBe(
      true,
    );
    for (let i = 0; i < 100 && !after.exits.length; i++) await new Promise((r) => setTimeout(r, 100));
    expect(after.exits).toEqual([expect.objectContaining({ runnerId: waiting.runnerId })]);
    await after.compute.close();
  });
});
