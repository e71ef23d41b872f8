/**
 * The job summary: what was built (or reused), where it is, how long it took, how much came from the
 * cache and what control answered. Plain Markdown, so it reads the same in the summary and in a test.
 */
import type { CacheUse } from './builder.ts';

export interface SummaryFacts {
  image: string;
  digest: string;
  tag: string;
  sizeBytes: number | undefined;
  contentHash: string;
  files: number;
  skipped: boolean;
  builder: string | undefined;
  buildSeconds: number | undefined;
  cache: CacheUse | undefined;
  buildId: string;
  controlAnswer: Record<string, unknown>;
  controlExisted: boolean;
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

export function summaryMarkdown(f: SummaryFacts): string {
  const built = f.skipped
    ? 'skipped: an image with the same content hash is already in the registry'
    : `built with ${f.builder} in ${f.buildSeconds?.toFixed(1)} s`;
  const cache = f.skipped
    ? 'whole image reused'
    : f.cache && f.cache.steps > 0
      ? `${f.cache.cached} of ${f.cache.steps} steps from cache`
      : 'no cache information';
  const rows: [string, string][] = [
    ['image', `\`${f.image}\``],
    ['digest', `\`${f.digest}\``],
    ['tag', `\`${f.tag}\``],
    ['size', f.sizeBytes === undefined ? 'unknown' : mib(f.sizeBytes)],
    ['build', built],
    ['cache', cache],
    ['content hash', `\`${f.contentHash.slice(0, 16)}…\` over ${f.files} files`],
    ['control', `build \`${f.buildId}\` ${f.controlExisted ? 'was already registered' : 'registered'}`],
  ];
  return [
    `### Gantry build ${f.skipped ? '(reused)' : ''}`.trimEnd(),
    '',
    '| | |',
    '| --- | --- |',
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    '',
    '<details><summary>control answered</summary>',
    '',
    '```json',
    JSON.stringify(f.controlAnswer, null, 2),
    '```',
    '',
    '</details>',
    '',
  ].join('\n');
}
