import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, GantryError } from './errors.ts';

describe('error catalogue', () => {
  it('every code is documented in docs/errors.md with its status and fault', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    for (const [code, e] of Object.entries(ERRORS)) {
      expect(doc, code).toMatch(
        new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${e.status}\\s*\\|\\s*${e.fault}\\s*\\|`),
      );
    }
  });

  it('calls a failure of control a server fault and a refused call a client fault', () => {
    for (const [code, e] of Object.entries(ERRORS)) {
      if (e.status >= 500) expect(e.fault, code).toBe('server');
      if (e.status >= 400 && e.status < 429) expect(e.fault, code).toBe('client');
    }
  });

  it('renders code, message and detail', () => {
    const e = new GantryError('GANTRY_ERR_APP_NOT_FOUND', 'No app a/b.', { hint: 1 });
    expect(e.statusCode).toBe(404);
    expect(e.toBody()).toEqual({
      code: 'GANTRY_ERR_APP_NOT_FOUND',
      message: 'No app a/b.',
      detail: 'No app a/b.',
      hint: 1,
    });
  });
});
