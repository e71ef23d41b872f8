/**
 * The hello example app: `POST /` with `{name, delay_ms?}` answers `{message: 'Hello, <name>!'}`;
 * `POST /image` answers `{image}`, a PNG badge for the name as fal's file object; `POST /stream`
 * streams the greeting word by word as server-sent events (fal.stream), the last event whole.
 * Run alone with `PORT=3000 npx tsx examples/hello/app.ts`; Gantry runs
 * `node --import tsx examples/hello/app.ts` from the repository root.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { defineApp, HttpError, runApp } from '../../sdk/src/index.ts';
import { type GreeterModel, knownWords, loadModel } from './model.ts';
import { encodePng } from './png.ts';

/** Ten minutes: long enough to exercise timeouts and cancels, short of a stuck request. */
const MAX_DELAY_MS = 600_000;

interface HelloInput {
  name: string;
  delay_ms: number;
}

let model: GreeterModel | undefined;

export const app = defineApp({
  async setup() {
    const started = performance.now();
    console.log('loading model…');
    model = await loadModel();
    console.log(
      `model ready in ${Math.round(performance.now() - started)} ms ` +
        `(${model.index.size} words, weights ${model.weightsDigest.slice(0, 12)})`,
    );
  },
  endpoints: {
    '/': async (input, ctx) => {
      const { name, delay_ms } = parseInput(input);
      if (!model) throw new Error('the model is not loaded');
      console.log(`greeting ${name} (${knownWords(model, name)} known words)`);
      if (delay_ms > 0) await sleep(delay_ms, undefined, { signal: ctx.signal });
      return { message: model.template.replace('{name}', name) };
    },
    '/image': async (input, ctx) => {
      const { name } = parseInput(input);
      const image = await ctx.uploadFile(badge(name), { contentType: 'image/png', fileName: 'hello.png' });
      return { image };
    },
    '/stream': async function* (input, ctx) {
      const { name, delay_ms } = parseInput(input);
      if (!model) throw new Error('the model is not loaded');
      const message = model.template.replace('{name}', name);
      const words = message.split(' ');
      for (let i = 1; i <= words.length; i++) {
        if (i > 1 && delay_ms > 0) await sleep(delay_ms, undefined, { signal: ctx.signal });
        yield { partial: words.slice(0, i).join(' '), done: i === words.length };
      }
    },
  },
});

/** A 64×64 badge whose colours come from the name, so each name gets its own image. */
export function badge(name: string): Buffer {
  let seed = 0;
  for (const ch of name) seed = (seed * 31 + (ch.codePointAt(0) ?? 0)) >>> 0;
  const size = 64;
  const rgb = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      rgb[i] = (seed + x * 4) & 0xff;
      rgb[i + 1] = ((seed >>> 8) + y * 4) & 0xff;
      rgb[i + 2] = (seed >>> 16) & 0xff;
    }
  }
  return encodePng(size, size, rgb);
}

function parseInput(input: unknown): HelloInput {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new HttpError(422, 'input must be a JSON object like {"name": "Ada"}');
  }
  const { name, delay_ms: delay } = input as Record<string, unknown>;
  if (typeof name !== 'string' || name.trim() === '') {
    throw new HttpError(422, 'name is required and must be a non-empty string');
  }
  if (
    delay !== undefined &&
    (typeof delay !== 'number' || !Number.isInteger(delay) || delay < 0 || delay > MAX_DELAY_MS)
  ) {
    throw new HttpError(422, `delay_ms must be an integer from 0 to ${MAX_DELAY_MS}`);
  }
  return { name, delay_ms: delay ?? 0 };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await runApp(app);
