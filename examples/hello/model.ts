/**
 * The hello "model": a small bundled file (model/greeter.json) plus a deterministic warm-up that
 * stands in for loading and checking weights, so setup does real, visible work in ~100–300 ms.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

export interface GreeterModel {
  /** The greeting, with `{name}` where the name goes. */
  template: string;
  /** Vocabulary word → token id, built from the file at load time. */
  index: Map<string, number>;
  /** sha256 of the generated weights, proof the warm-up ran. */
  weightsDigest: string;
}

interface GreeterFile {
  template: string;
  vocabulary: string[];
  warmup: { seed: number; weights_bytes: number; rounds: number };
}

const MODEL_FILE = new URL('./model/greeter.json', import.meta.url);

export async function loadModel(): Promise<GreeterModel> {
  const file = JSON.parse(await readFile(MODEL_FILE, 'utf8')) as GreeterFile;
  if (
    typeof file.template !== 'string' ||
    !file.template.includes('{name}') ||
    !Array.isArray(file.vocabulary)
  ) {
    throw new Error(
      `${MODEL_FILE.pathname} is not a greeter model: it needs a template with {name} and a vocabulary`,
    );
  }
  const index = new Map<string, number>();
  for (const word of file.vocabulary) if (!index.has(word)) index.set(word.toLowerCase(), index.size);
  return { template: file.template, index, weightsDigest: warmUp(file.warmup) };
}

/** Counts the words of `text` the model knows: a stand-in for tokenising. */
export function knownWords(model: GreeterModel, text: string): number {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => model.index.has(word)).length;
}

/** Fills a buffer from a xorshift generator and hashes it round after round, like touching weights once. */
function warmUp({ seed, weights_bytes, rounds }: GreeterFile['warmup']): string {
  const weights = new Uint32Array(weights_bytes / 4);
  let x = seed >>> 0;
  for (let i = 0; i < weights.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    weights[i] = x;
  }
  let digest = Buffer.alloc(32);
  for (let round = 0; round < rounds; round++)
    digest = createHash('sha256').update(digest).update(weights).digest();
  return digest.toString('hex');
}
