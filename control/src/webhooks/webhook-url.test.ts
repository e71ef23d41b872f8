import { describe, expect, it } from 'vitest';
import { checkWebhookUrl, isInternalAddress, publicOnlyLookup } from './webhook-url.ts';

describe('webhook URL check', () => {
  it.each([
    ['127.0.0.1', true],
    ['10.1.2.3', true],
    ['172.20.0.1', true],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['::1', true],
    ['fd00::1', true],
    ['fe80::1', true],
    ['::ffff:127.0.0.1', true],
    ['8.8.8.8', false],
    ['2606:4700::1111', false],
  ])('%s is internal: %s', (address, internal) => {
    expect(isInternalAddress(address)).toBe(internal);
  });

  it('refuses names that resolve to an internal address, and non-http URLs', async () => {
    const lookup = async (host: string) =>
      host === 'evil.example'
        ? [{ address: '93.184.216.34' }, { address: '10.0.0.5' }]
        : [{ address: '93.184.216.34' }];
    await expect(
      checkWebhookUrl('https://evil.example/h', { allowPrivate: false, lookup }),
    ).rejects.toMatchObject({
      code: 'GANTRY_ERR_BAD_WEBHOOK_URL',
    });
    await expect(
      checkWebhookUrl('ftp://ok.example/h', { allowPrivate: false, lookup }),
    ).rejects.toMatchObject({
      code: 'GANTRY_ERR_BAD_WEBHOOK_URL',
    });
    await expect(
      checkWebhookUrl('http://[::1]:8080/h', { allowPrivate: false, lookup }),
    ).rejects.toMatchObject({
      code: 'GANTRY_ERR_BAD_WEBHOOK_URL',
    });
    expect((await checkWebhookUrl('https://ok.example/h', { allowPrivate: false, lookup })).host).toBe(
      'ok.example',
    );
    expect((await checkWebhookUrl('http://127.0.0.1:9/h', { allowPrivate: true, lookup })).port).toBe('9');
  });

  it('refuses IPv6 forms that carry an internal IPv4 address', () => {
    for (const a of [
      '::7f00:1',
      '::ffff:7f00:1',
      '::ffff:a9fe:a9fe',
      '::ffff:0:7f00:1',
      '::ffff:0:127.0.0.1',
      '::ffff:0:a00:1',
      '2002:7f00:1::',
      '64:ff9b:1::a00:1',
      '100::1',
      '2001:0:4136:e378::1',
    ]) {
      expect(isInternalAddress(a), a).toBe(true);
    }
    expect(isInternalAddress('2606:4700:4700::1111')).toBe(false);
    expect(isInternalAddress('1.1.1.1')).toBe(false);
  });

  it('the delivery connection refuses a name that resolves to an internal address', async () => {
    const result = await new Promise<{ err: NodeJS.ErrnoException | null }>((resolve) =>
      publicOnlyLookup('localhost', {}, (err) => resolve({ err })),
    );
    expect(result.err?.code).toBe('EADDRNOTAVAIL');
    expect(result.err?.message).toMatch(/internal address/);
  });
});
