import { describe, expect, it } from 'vitest';
import { checkWebhookUrl, isInternalAddress } from './webhook-url.ts';

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
});
