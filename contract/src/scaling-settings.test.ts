import { describe, expect, it } from 'vitest';
import { GantryError } from './errors.ts';
import {
  MACHINE_TYPE_NAMES,
  mergeRuntimeSettings,
  parseCodeSettings,
  RUNTIME_SETTINGS,
} from './scaling-settings.ts';

describe('scaling settings', () => {
  it('fills defaults and applies a patch', () => {
    const s = mergeRuntimeSettings({}, { keep_alive: 30, max_concurrency: 5 });
    expect(s.keep_alive).toBe(30);
    expect(s.max_concurrency).toBe(5);
    expect(s.min_concurrency).toBe(RUNTIME_SETTINGS.min_concurrency.default);
  });

  it.each([
    [{ keep_alive: -1 }, 'keep_alive', /from 0 to 86400/],
    [{ max_concurrency: 0 }, 'max_concurrency', /from 1 to 1000/],
    [{ max_concurrency: 'lots' }, 'max_concurrency', /got "lots"/],
    [{ min_concurrency: 1.5 }, 'min_concurrency', /whole number/],
    [{ min_concurrency: 5, max_concurrency: 2 }, 'min_concurrency', /must not exceed max_concurrency/],
    [{ warp_speed: 9 }, 'warp_speed', /Unknown setting/],
  ])('rejects %j naming the field and its range', (patch, field, message) => {
    let err: unknown;
    try {
      mergeRuntimeSettings({}, patch);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GantryError);
    expect((err as GantryError).code).toBe('GANTRY_ERR_INVALID_SETTING');
    expect((err as GantryError).statusCode).toBe(400);
    expect((err as GantryError).extra.field).toBe(field);
    expect((err as GantryError).message).toMatch(message);
  });

  it('code settings: defaults, machine_type as a list, validation', () => {
    expect(parseCodeSettings()).toEqual({ max_multiplexing: 1, startup_timeout: 300, machine_type: ['CPU'] });
    expect(parseCodeSettings({ machine_type: 'GPU-A10G' }).machine_type).toEqual(['GPU-A10G']);
    expect(() => parseCodeSettings({ max_multiplexing: 0 })).toThrow(
      /max_multiplexing must be a number from 1/,
    );
    expect(() => parseCodeSettings({ machine_type: [] })).toThrow(/machine_type/);
  });

  it('refuses an unknown machine_type, listing the allowed ones', () => {
    let err: unknown;
    try {
      parseCodeSettings({ machine_type: ['GPU-A10G', 'GPU-T4'] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GantryError);
    expect((err as GantryError).statusCode).toBe(400);
    expect((err as GantryError).message).toMatch(/Unknown machine_type "GPU-T4"; use one of CPU, GPU-A10G/);
    expect((err as GantryError).extra).toMatchObject({
      field: 'machine_type',
      allowed: [...MACHINE_TYPE_NAMES],
    });
  });

  it('a smoke request: path with a leading slash, input {} and status 200 by default; mistakes named', () => {
    expect(parseCodeSettings({ smoke: { path: 'predict' } }).smoke).toEqual({
      path: '/predict',
      input: {},
      expect_status: 200,
    });
    expect(
      parseCodeSettings({ smoke: { path: '/p', input: { prompt: 'a cat' }, expect_status: 201 } }).smoke,
    ).toEqual({ path: '/p', input: { prompt: 'a cat' }, expect_status: 201 });
    expect(parseCodeSettings({}).smoke).toBeUndefined();
    const refused = (smoke: unknown) => {
      try {
        parseCodeSettings({ smoke });
      } catch (e) {
        expect((e as GantryError).code).toBe('GANTRY_ERR_INVALID_SETTING');
        expect((e as GantryError).extra).toMatchObject({ field: 'smoke' });
        return (e as GantryError).message;
      }
      throw new Error('accepted');
    };
    expect(refused('/predict')).toMatch(/must be an object/);
    expect(refused({ input: {} })).toMatch(/needs "path"/);
    expect(refused({ path: '/p?x=1' })).toMatch(/needs "path"/);
    expect(refused({ path: '/p', expect_status: 700 })).toMatch(/expect_status must be an HTTP status/);
    expect(refused({ path: '/p', status: 200 })).toMatch(/unknown key "status"/);
    expect(refused({ path: '/p', input: { blob: 'x'.repeat(5000) } })).toMatch(/at most 4096 characters/);
  });
});
