/**
 * Secrets by reference: an environment's secrets mirrored into Secrets Manager (the ECS stand-in's,
 * which answers its JSON protocol and wants a SigV4 signature) and handed out as ARNs.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgliteClient } from '../../../sql/src/pglite-client.ts';
import { type EcsStandin, startEcsStandin } from '../../../test/support/ecs-standin.ts';
import type { TestEngine } from '../../../test/support/podman.ts';
import { Store } from '../store/store.ts';
import { EnvironmentSecrets, RUNNER_KEY_SECRET } from './environment-secrets.ts';
import { SecretBox } from './secret-box.ts';
import { SecretsManagerError, SecretsManagerMirror } from './secrets-manager.ts';

let sm: EcsStandin;
let store: Store;

beforeAll(async () => {
  // Only Secrets Manager is used here: no task runs, so no container engine is needed.
  sm = await startEcsStandin({ engine: {} as TestEngine, clusters: [], capacityProviders: {} });
  store = new Store(await PgliteClient.open(undefined));
  await store.migrate();
});
afterAll(async () => {
  await sm?.close();
});

const mirrorOf = (o: Partial<ConstructorParameters<typeof SecretsManagerMirror>[0]> = {}) =>
  new SecretsManagerMirror({
    region: sm.region,
    endpoint: sm.endpoint,
    credentials: async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'test' }),
    prefix: 'gantry',
    ...o,
  });

describe('EnvironmentSecrets with the Secrets Manager mirror', () => {
  it('writes on set, deletes on unset, and hands runners ARNs and a runner key of their environment', async () => {
    const mirror = mirrorOf();
    const box = new SecretBox({ id: 'k1', key: randomBytes(32) });
    const secrets = new EnvironmentSecrets(store, box, mirror);
    const app = await store.apps.create('acme', 'sm', 'private');
    const env = (await store.apps.getEnvironment(app.id, 'production'))!;
    const staging = await store.apps.createEnvironment(app.id, 'staging');

    await secrets.set(env.id, { HF_TOKEN: 'hf_one', WANDB_KEY: 'wandb_one' });
    const held = sm.secretsByName();
    expect(held[`gantry/${env.id}/HF_TOKEN`]?.value).toBe('hf_one');
    expect(held[`gantry/${env.id}/WANDB_KEY`]?.value).toBe('wandb_one');
    // Every call was signed (the stand-in refuses unsigned ones).
    expect(sm.secretCalls.map((c) => c.op)).toEqual(
      expect.arrayContaining(['PutSecretValue', 'CreateSecret']),
    );

    const refs = await secrets.referencesFor(env.id);
    expect(Object.keys(refs.app).sort()).toEqual(['HF_TOKEN', 'WANDB_KEY']);
    expect(refs.app.HF_TOKEN).toBe(sm.secretsByName()[`gantry/${env.id}/HF_TOKEN`]!.arn);
    expect(refs.app.HF_TOKEN).toMatch(/^arn:aws:secretsmanager:.*:secret:gantry\/.*\/HF_TOKEN-/);
    expect(sm.secretsByName()[`gantry/${env.id}/${RUNNER_KEY_SECRET}`]).toEqual({
      arn: refs.runnerKey.valueFrom,
      value: refs.runnerKey.value,
    });
    // A key per environment, the same on every start.
    expect((await secrets.referencesFor(env.id)).runnerKey.value).toBe(refs.runnerKey.value);
    expect((await secrets.referencesFor(staging.id)).runnerKey.value).not.toBe(refs.runnerKey.value);

    // Unchanged values are not written again; a changed one is.
    const writes = () =>
      sm.secretCalls.filter((c) => c.op === 'PutSecretValue' || c.op === 'CreateSecret').length;
    const before = writes();
    await secrets.referencesFor(env.id);
    expect(writes()).toBe(before);
    await secrets.set(env.id, { HF_TOKEN: 'hf_two' });
    expect(writes()).toBe(before + 1);
    expect(sm.secretsByName()[`gantry/${env.id}/HF_TOKEN`]?.value).toBe('hf_two');

    await secrets.unset(env.id, 'production', ['WANDB_KEY']);
    expect(sm.secretsByName()).not.toHaveProperty(`gantry/${env.id}/WANDB_KEY`);
    expect(Object.keys((await secrets.referencesFor(env.id)).app)).toEqual(['HF_TOKEN']);
  });

  it('an environment deleted: every copy of its secrets goes at once, the runner key too; others keep theirs', async () => {
    const box = new SecretBox({ id: 'k1', key: randomBytes(32) });
    const secrets = new EnvironmentSecrets(store, box, mirrorOf());
    const app = await store.apps.create('acme', 'sm-gone', 'private');
    const env = (await store.apps.getEnvironment(app.id, 'production'))!;
    const other = await store.apps.createEnvironment(app.id, 'staging');
    await secrets.set(env.id, { HF_TOKEN: 'hf_gone', WANDB_KEY: 'wandb_gone' });
    await secrets.set(other.id, { HF_TOKEN: 'hf_kept' });
    await secrets.referencesFor(env.id);
    await secrets.referencesFor(other.id);
    const of = (id: string) => Object.keys(sm.secretsByName()).filter((n) => n.startsWith(`gantry/${id}/`));
    expect(of(env.id).sort()).toEqual(
      [
        `gantry/${env.id}/HF_TOKEN`,
        `gantry/${env.id}/WANDB_KEY`,
        `gantry/${env.id}/${RUNNER_KEY_SECRET}`,
      ].sort(),
    );

    await secrets.removeAll(env.id);
    expect(of(env.id)).toEqual([]);
    expect(of(other.id)).toHaveLength(2);
    // Deleted, not scheduled for deletion: a recovery window would keep them billed for days.
    const deletes = sm.secretCalls.filter((c) => c.op === 'DeleteSecret').map((c) => JSON.parse(c.body));
    expect(deletes.filter((d) => String(d.SecretId).startsWith(`gantry/${env.id}/`))).toHaveLength(3);
    for (const d of deletes) expect(d.ForceDeleteWithoutRecovery).toBe(true);
    // Again (a retried deletion): nothing left to delete is not an error.
    await expect(secrets.removeAll(env.id)).resolves.toBeUndefined();
  });

  it('unset: when Secrets Manager refuses, the secret stays listed, so the unset can be retried', async () => {
    const box = new SecretBox({ id: 'k1', key: randomBytes(32) });
    const app = await store.apps.create('acme', 'sm-retry', 'private');
    const env = (await store.apps.getEnvironment(app.id, 'production'))!;
    await new EnvironmentSecrets(store, box, mirrorOf()).set(env.id, { HF_TOKEN: 'hf_x' });
    const refusing = mirrorOf({
      fetch: async () =>
        new Response(JSON.stringify({ __type: 'AccessDeniedException', message: 'not allowed' }), {
          status: 400,
        }),
    });
    await expect(
      new EnvironmentSecrets(store, box, refusing).unset(env.id, 'production', ['HF_TOKEN']),
    ).rejects.toThrow(/AccessDeniedException/);
    expect((await store.secrets.list(env.id)).map((s) => s.name)).toEqual(['HF_TOKEN']);
  });

  it('after a restart (a new mirror), writes what it does not know, and creates what is missing', async () => {
    const app = await store.apps.create('acme', 'sm2', 'private');
    const env = (await store.apps.getEnvironment(app.id, 'production'))!;
    const box = new SecretBox({ id: 'k1', key: randomBytes(32) });
    // Set while control ran without ECS: nothing in Secrets Manager yet.
    await new EnvironmentSecrets(store, box).set(env.id, { HF_TOKEN: 'hf_before' });
    expect(sm.secretsByName()).not.toHaveProperty(`gantry/${env.id}/HF_TOKEN`);
    const refs = await new EnvironmentSecrets(store, box, mirrorOf()).referencesFor(env.id);
    expect(sm.secretsByName()[`gantry/${env.id}/HF_TOKEN`]).toEqual({
      arn: refs.app.HF_TOKEN,
      value: 'hf_before',
    });
  });

  it('surfaces Secrets Manager refusals with their AWS name', async () => {
    const mirror = mirrorOf({ endpoint: `${sm.endpoint}/`, region: sm.region });
    await expect(mirror.remove('env-x', ['NOT_THERE'])).resolves.toBeUndefined();
    const failing = mirrorOf({
      fetch: async () =>
        new Response(JSON.stringify({ __type: 'AccessDeniedException', message: 'not allowed' }), {
          status: 400,
        }),
    });
    const err = await failing.sync('env-x', { A: 'b' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretsManagerError);
    expect(err).toMatchObject({
      name: 'AccessDeniedException',
      message: expect.stringContaining('not allowed'),
    });
  });
});
