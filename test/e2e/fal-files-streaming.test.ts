/**
 * What image, audio and LLM endpoints do, through the official fal client configured only with
 * Gantry's proxy URL: fal.storage.upload, a Blob input, an output file fetched from its URL, a
 * binary answer, results byte for byte, and fal.stream event by event. Once on the embedded files
 * (the data folder) and once on the S3 driver against s3rver.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createFalClient, type FalClient } from '@fal-ai/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, startLocalS3 } from '../../control/src/testing/s3rver.ts';
import { helloBadge as badge } from '../../examples/index.ts';
import { eventually, startTestControl, type TestControl } from '../support/control.ts';

const FILES_APP = ['node', '--import', 'tsx', 'test/fixtures/apps/files-app.ts'];
const MAX_BYTES = 512 * 1024;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Every byte value, then random ones: any text decoding on the way shows. */
const binary = (size: number) =>
  Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(size)]).subarray(0, size);

interface Storage {
  name: string;
  env: () => Record<string, string>;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
}

let s3: LocalS3 | undefined;
const savedEnv = new Map<string, string | undefined>();

const STORAGES: Storage[] = [
  { name: 'the data folder', env: () => ({}), setUp: async () => {}, tearDown: async () => {} },
  {
    name: 'S3 (s3rver)',
    env: () => ({
      GANTRY_FILES: 's3',
      GANTRY_FILES_S3_BUCKET: s3!.bucket,
      GANTRY_FILES_S3_PATH_STYLE: 'true',
    }),
    // The AWS SDK reads its own settings from the environment, as in production.
    async setUp() {
      s3 = await startLocalS3();
      for (const [k, v] of Object.entries(s3.awsEnv)) {
        savedEnv.set(k, process.env[k]);
        process.env[k] = v;
      }
    },
    async tearDown() {
      for (const [k, v] of savedEnv) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await s3?.stop();
    },
  },
];

describe.each(STORAGES)('fal client, files and streams on $name', (storage) => {
  let control: TestControl;
  let fal: FalClient;

  beforeAll(async () => {
    await storage.setUp();
    control = await startTestControl({
      env: { GANTRY_FILES_MAX_BYTES: String(MAX_BYTES), ...storage.env() },
    });
    await control.deploy({ name: 'hello', scaling: { keep_alive: 30 } });
    await control.deploy({ name: 'files', command: FILES_APP, scaling: { keep_alive: 30 } });
    fal = createFalClient({
      credentials: control.adminKey,
      proxyUrl: { url: `${control.url}/fal/proxy`, when: 'always' },
    });
  }, 180_000);

  afterAll(async () => {
    await control?.close();
    await storage.tearDown();
  });

  it('fal.storage.upload stores a file that its URL serves back byte for byte', async () => {
    const bytes = binary(200_000);
    const url = await fal.storage.upload(new Blob([bytes], { type: 'audio/wav' }));
    const got = await fetch(url);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('audio/wav');
    expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('a Blob in the input is uploaded by the client and reaches the app as a URL it can read', async () => {
    const bytes = binary(50_000);
    const { data } = await fal.subscribe('test/files/digest', {
      input: { file: new Blob([bytes], { type: 'image/png' }) },
    });
    expect(data).toEqual({ size: bytes.length, sha256: sha256(bytes), content_type: 'image/png' });
  });

  it("an app's output file comes back in fal's file shape, and its URL serves the app's bytes", async () => {
    const { data } = await fal.subscribe('test/hello/image', { input: { name: 'Ada' } });
    const image = (
      data as { image: { url: string; content_type: string; file_name: string; file_size: number } }
    ).image;
    const expected = badge('Ada');
    expect(image).toEqual({
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/files\/f\//),
      content_type: 'image/png',
      file_name: 'hello.png',
      file_size: expected.length,
    });
    const got = await fetch(image.url);
    expect(got.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await got.arrayBuffer()).equals(expected)).toBe(true);
  });

  it('fal.stream yields each event as the app sends it, and done() resolves with the last', async () => {
    const stream = await fal.stream('test/hello', {
      input: { name: 'Ada Lovelace Byron King', delay_ms: 200 },
    });
    const events: { partial: string; done: boolean }[] = [];
    let statusAtFirst: string | undefined;
    for await (const event of stream) {
      if (events.length === 0 && stream.requestId) {
        // The first event arrives while the app is still producing the rest.
        const s = await control.admin(`/queue/test/hello/requests/${stream.requestId}/status`);
        statusAtFirst = ((await s.json()) as { status: string }).status;
      }
      events.push(event as { partial: string; done: boolean });
    }
    expect(statusAtFirst).toBe('IN_PROGRESS');
    expect(events.map((e) => e.partial)).toEqual([
      'Hello,',
      'Hello, Ada',
      'Hello, Ada Lovelace',
      'Hello, Ada Lovelace Byron',
      'Hello, Ada Lovelace Byron King!',
    ]);
    expect(await stream.done()).toEqual({ partial: 'Hello, Ada Lovelace Byron King!', done: true });
  });

  it('on the queue path, a streaming endpoint completes with its last event', async () => {
    const { data } = await fal.subscribe('test/hello/stream', { input: { name: 'Grace' } });
    expect(data).toEqual({ partial: 'Hello, Grace!', done: true });
  });

  it('a stream the app breaks off ends in an error for the caller, and the request fails once', async () => {
    const stream = await fal.stream('test/files/broken', { input: { after: 2 } });
    const seen: unknown[] = [];
    const iterate = (async () => {
      for await (const e of stream) seen.push(e);
    })();
    await expect(stream.done()).rejects.toThrow();
    await iterate.catch(() => {});
    expect(seen.slice(0, 2)).toEqual([{ n: 1 }, { n: 2 }]);
    const requestId = stream.requestId!;
    const status = await eventually(async () => {
      const s = (await (await control.admin(`/queue/test/files/requests/${requestId}/status`)).json()) as {
        status: string;
        error_type?: string;
      };
      return s.status === 'COMPLETED' ? s : undefined;
    });
    expect(status.error_type).toBe('runner_server_error');
  });

  it('a caller who hangs up on a stream cancels the request, and the app stops streaming', async () => {
    const hangUp = new AbortController();
    const res = await fetch(`${control.url}/run/test/files/long/stream`, {
      method: 'POST',
      headers: {
        authorization: `Key ${control.adminKey}`,
        'content-type': 'application/json',
        accept: 'text/event-stream',
      },
      body: '{}',
      signal: hangUp.signal,
    });
    const requestId = res.headers.get('x-fal-request-id')!;
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const first = await res.body!.getReader().read();
    expect(new TextDecoder().decode(first.value)).toMatch(/^data: \{"n":1\}/);
    hangUp.abort();
    // The stream would last for hours: only the cancel completes it, as the caller's doing.
    const status = await eventually(async () => {
      const s = (await (await control.admin(`/queue/test/files/requests/${requestId}/status`)).json()) as {
        status: string;
        error_type?: string;
      };
      return s.status === 'COMPLETED' ? s : undefined;
    }, 60_000);
    expect(status.error_type).toBe('client_cancelled');
  });

  it('results come back byte for byte: key order, spacing, and binary bodies', async () => {
    const sent = '{"z":1,"a":{"y":2,"b":[3,1]},"m":"\\u00e9"}';
    const submit = await fetch(`${control.url}/run/test/files/raw`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: sent,
    });
    expect(await submit.text()).toBe(JSON.stringify(JSON.parse(sent)));
    const { request_id } = (await (
      await fetch(`${control.url}/queue/test/files/binary`, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
      })
    ).json()) as { request_id: string };
    const result = await eventually(async () => {
      const r = await fetch(`${control.url}/queue/test/files/requests/${request_id}`);
      return r.status === 200 ? r : undefined;
    });
    expect(result.headers.get('content-type')).toBe('application/octet-stream');
    const bytes = Buffer.from(await result.arrayBuffer());
    expect([...bytes]).toEqual(Array.from({ length: 256 }, (_, i) => i));
  });

  it('refuses a file URL of another environment in an input (400)', async () => {
    const { data } = await fal.subscribe('test/hello/image', { input: { name: 'Eve' } });
    const url = (data as { image: { url: string } }).image.url;
    const res = await fetch(`${control.url}/queue/test/files/digest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ file: url }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('GANTRY_ERR_FILE_OTHER_ENVIRONMENT');
  });
});

describe('fal client uploads on the data folder: limits', () => {
  let control: TestControl;
  beforeAll(async () => {
    control = await startTestControl({ env: { GANTRY_FILES_MAX_BYTES: String(MAX_BYTES) } });
  });
  afterAll(async () => {
    await control?.close();
  });

  it('an upload over the limit fails with 413, and an upload without a key with 401', async () => {
    const withKey = createFalClient({
      credentials: control.adminKey,
      proxyUrl: { url: `${control.url}/fal/proxy`, when: 'always' },
    });
    await expect(withKey.storage.upload(new Blob([binary(MAX_BYTES + 1)]))).rejects.toMatchObject({
      status: 413,
    });
    const anonymous = createFalClient({ proxyUrl: { url: `${control.url}/fal/proxy`, when: 'always' } });
    await expect(anonymous.storage.upload(new Blob([binary(10)]))).rejects.toMatchObject({ status: 401 });
  });
});
