import { describe, expect, it } from 'vitest';
import { CliError, EXIT } from './exit-codes.ts';
import { parseImageRef } from './image-ref.ts';

const D = `sha256:${'ab'.repeat(32)}`;

const refused = (raw: string): string => {
  try {
    parseImageRef(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.USAGE);
    return (err as Error).message;
  }
  throw new Error(`expected "${raw}" to be refused`);
};

describe('parseImageRef', () => {
  it('takes references pinned by digest, with or without a registry, port and tag', () => {
    for (const ref of [
      `hello@${D}`,
      `acme/sdxl@${D}`,
      `ghcr.io/acme/sdxl@${D}`,
      `127.0.0.1:5000/codertocat/hello@${D}`,
      `localhost:5000/a/b/c:v1.2@${D}`,
      `registry.example.com/team_x/model-server:latest@${D}`,
    ]) {
      expect(parseImageRef(ref)).toBe(ref);
    }
  });

  it('refuses a tag or a bare name, saying why a digest is needed', () => {
    const m = refused('ghcr.io/acme/sdxl:latest');
    expect(m).toContain('is not pinned by digest');
    expect(m).toContain('A revision is immutable');
    expect(m).toContain('REPOSITORY@sha256:');
    expect(refused('acme/sdxl')).toContain('is not pinned by digest');
  });

  it('refuses a digest that is not sha256 and 64 lowercase hex digits', () => {
    for (const digest of ['sha256:abc', `sha512:${'a'.repeat(128)}`, `sha256:${'AB'.repeat(32)}`, '']) {
      expect(refused(`acme/sdxl@${digest}`)).toMatch(/the digest must be sha256: and 64 lowercase hex/);
    }
  });

  it('refuses a malformed repository before the digest', () => {
    for (const name of ['Acme/Sdxl', 'acme//sdxl', 'acme/sdxl:', 'acme sdxl', '/acme', 'acme/-x', '']) {
      expect(refused(`${name}@${D}`)).toMatch(/is not an image reference/);
    }
    expect(refused('   ')).toMatch(/--image is empty/);
  });
});
