import type { Static } from 'typebox';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  ControlApiAnswerError,
  ControlApiClient,
  ControlApiError,
  ControlApiUnreachableError,
  isRetryableControlApiError,
} from './control-client.ts';
import type { ErrorCode, Fault } from './errors.ts';
import type * as api from './management-api.ts';

/** A fetch that answers from a list, recording what it was asked. */
function scripted(...answers: (Response | Error)[]) {
  const calls: { url: string; method: string; headers: Headers; body: unknown }[] = [];
  const fetchImpl: typeof fetch = async (input, init) => {
    calls.push({
      url: String(input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
    });
    const next = answers.shift();
    if (!next) throw new Error('no more answers scripted');
    if (next instanceof Error) throw next;
    return next;
  };
  return { calls, fetchImpl };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const revision: api.RevisionView = {
  number: 3,
  environment: 'production',
  active: true,
  image: null,
  command: ['node', 'app.js'],
  cwd: null,
  settings: {},
  commit_sha: null,
  message: null,
  annotations: {},
  created_at: '2026-01-01T00:00:00.000Z',
  status: 'ok',
  failure: null,
};

const noWait = async () => {};
const ENV = { owner: 'acme', name: 'sd', env: 'staging' };

describe('ControlApiClient', () => {
  it('sends the key and the path of the environment, and returns the checked answer', async () => {
    const f = scripted(json(200, { revisions: [revision] }));
    const client = new ControlApiClient({ url: 'http://control/', key: 'k1', fetch: f.fetchImpl });
    expect(await client.listRevisions(ENV)).toEqual([revision]);
    expect(f.calls[0]!.url).toBe('http://control/v1/apps/acme/sd/environments/staging/revisions');
    expect(f.calls[0]!.headers.get('authorization')).toBe('Key k1');
  });

  it("turns a refusal into an error with the catalogue's code, status and fault", async () => {
    const f = scripted(
      json(404, { code: 'GANTRY_ERR_APP_NOT_FOUND', message: 'No app acme/sd (apps: none).' }),
    );
    const client = new ControlApiClient({ url: 'http://control', key: 'k', fetch: f.fetchImpl });
    const err = await client.getApp(ENV).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlApiError);
    expect(err).toMatchObject({
      status: 404,
      code: 'GANTRY_ERR_APP_NOT_FOUND',
      fault: 'client',
      message: 'No app acme/sd (apps: none).',
    });
    expect(isRetryableControlApiError(err)).toBe(false);
  });

  it('retries an idempotent call after a server fault, and not after a client fault', async () => {
    const f = scripted(
      json(503, { code: 'GANTRY_ERR_QUEUE_UNAVAILABLE', message: 'try again' }),
      json(200, { revisions: [] }),
      json(400, { code: 'GANTRY_ERR_VALIDATION', message: 'bad' }),
    );
    const client = new ControlApiClient({ url: 'http://control', fetch: f.fetchImpl, sleep: noWait });
    expect(await client.listRevisions(ENV)).toEqual([]);
    expect(f.calls).toHaveLength(2);
    await expect(client.listRevisions(ENV)).rejects.toMatchObject({ code: 'GANTRY_ERR_VALIDATION' });
    expect(f.calls).toHaveLength(3);
  });

  it('does not repeat a call that is not idempotent', async () => {
    const f = scripted(json(500, { code: 'GANTRY_ERR_INTERNAL', message: 'boom' }));
    const client = new ControlApiClient({ url: 'http://control', fetch: f.fetchImpl, sleep: noWait });
    await expect(client.createRevision(ENV, { command: ['x'] })).rejects.toMatchObject({
      status: 500,
      fault: 'server',
    });
    expect(f.calls).toHaveLength(1);
  });

  it('says which field of an answer is not the API shape', async () => {
    const f = scripted(json(200, { revisions: [{ ...revision, number: 'three' }] }));
    const client = new ControlApiClient({ url: 'http://control', fetch: f.fetchImpl });
    const err = await client.listRevisions(ENV).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlApiAnswerError);
    expect((err as Error).message).toMatch(/\/revisions\/0\/number/);
  });

  it('names control and the reason when nothing answers, after retrying', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const f = scripted(refused, refused, refused);
    const client = new ControlApiClient({ url: 'http://control', fetch: f.fetchImpl, sleep: noWait });
    const err = await client.listApps().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlApiUnreachableError);
    expect(err).toMatchObject({ url: 'http://control', reason: 'ECONNREFUSED' });
    expect(f.calls).toHaveLength(3);
  });

  it('tells a new build from one control already held', async () => {
    const build = {
      id: 'b1',
      repository: 'acme/sd',
      commit_sha: 'abcdef1',
      ref: null,
      image: `r/x@sha256:${'a'.repeat(64)}`,
      digest: `sha256:${'a'.repeat(64)}`,
      content_hash: null,
      registered_by: 'key:k',
      created_at: '2026-01-01T00:00:00.000Z',
    };
    const f = scripted(json(201, build), json(200, build));
    const client = new ControlApiClient({
      url: 'http://control',
      authorization: 'Bearer t',
      fetch: f.fetchImpl,
    });
    const body = { repository: 'acme/sd', commit_sha: 'abcdef1', image: build.image, digest: build.digest };
    expect((await client.registerBuild(body)).created).toBe(true);
    expect((await client.registerBuild(body)).created).toBe(false);
    expect(f.calls[0]!.headers.get('authorization')).toBe('Bearer t');
  });
});

describe('contract types', () => {
  it("gives the client's answers the schemas' static types", () => {
    expectTypeOf<ReturnType<ControlApiClient['listRevisions']>>().toEqualTypeOf<
      Promise<api.RevisionView[]>
    >();
    expectTypeOf<ReturnType<ControlApiClient['getApp']>>().toEqualTypeOf<Promise<api.AppWithEnvironments>>();
    expectTypeOf<ReturnType<ControlApiClient['registerBuild']>>().toEqualTypeOf<
      Promise<{ build: api.BuildView; created: boolean }>
    >();
    expectTypeOf<
      Awaited<ReturnType<ControlApiClient['setActiveRevision']>>['rollout']
    >().toEqualTypeOf<api.RolloutView>();
    expectTypeOf<Awaited<ReturnType<ControlApiClient['deleteApp']>>>().toBeVoid();
  });

  it('types the schema statics as the API states them', () => {
    expectTypeOf<api.RevisionView['status']>().toEqualTypeOf<'ok' | 'failed' | 'not_started'>();
    expectTypeOf<api.RevisionView['image']>().toEqualTypeOf<string | null>();
    expectTypeOf<api.RolloutView['state']>().toEqualTypeOf<
      'in_progress' | 'completed' | 'aborted' | 'superseded'
    >();
    expectTypeOf<api.CreateApp['auth_mode']>().toEqualTypeOf<'private' | 'public' | 'shared' | undefined>();
    expectTypeOf<api.CreateKey['scope']>().toEqualTypeOf<'ADMIN' | 'API'>();
    expectTypeOf<Static<typeof api.EnvironmentListView>>().toHaveProperty('secrets').toEqualTypeOf<number>();
    expectTypeOf<api.RegisterBuild>().toHaveProperty('ref').toEqualTypeOf<string | undefined>();
  });

  it('types errors with the catalogue', () => {
    expectTypeOf<ControlApiError['code']>().toEqualTypeOf<ErrorCode | undefined>();
    expectTypeOf<ControlApiError['fault']>().toEqualTypeOf<Fault>();
  });
});
