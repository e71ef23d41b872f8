import { describe, expect, it } from 'vitest';
import { CODE_SETTINGS, RUNTIME_SETTINGS, settingsJsonSchema } from '../../contract/src/scaling-settings.ts';
import schema from '../gantry.schema.json' with { type: 'json' };

// The published schema is what editors check `.github/gantry.yml` against; control checks the same
// settings with the table. A range changed in one place only would pass a file control then refuses.
describe('gantry.schema.json and the settings table', () => {
  it('states every runtime scaling setting with the range and type control enforces', () => {
    expect(schema.definitions.scaling.properties).toEqual(settingsJsonSchema(RUNTIME_SETTINGS));
  });

  it('states the code-specific settings with the range and type control enforces', () => {
    const code = settingsJsonSchema(CODE_SETTINGS);
    for (const [name, expected] of Object.entries(code)) {
      expect((schema.properties as Record<string, unknown>)[name], name).toEqual(expected);
    }
  });
});
