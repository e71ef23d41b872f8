import { describe, expect, it } from 'vitest';
import { consoleUrl } from './endpoint.ts';

describe('consoleUrl', () => {
  it("links an environment's console page, and a tab of it", () => {
    expect(consoleUrl('https://gantry.example.com/', 'acme/sdxl')).toBe(
      'https://gantry.example.com/#/apps/acme/sdxl/production',
    );
    expect(consoleUrl('https://gantry.example.com', 'acme/sdxl--pr-7', 'revisions')).toBe(
      'https://gantry.example.com/#/apps/acme/sdxl/pr-7/revisions',
    );
  });
});
