import * as crypto from 'node:crypto';
import { createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KEY_GENERATOR_SOURCE } from './key-generator-source.ts';

/** Runs the inline Lambda source with Secrets Manager and the CloudFormation response URL faked. */
function loadGenerator(secrets: Map<string, string>, opts: { failGet?: boolean } = {}) {
  const puts: string[] = [];
  const responses: Record<string, unknown>[] = [];
  class GetSecretValueCommand {
    constructor(readonly input: { SecretId: string }) {}
  }
  class PutSecretValueCommand {
    constructor(readonly input: { SecretId: string; SecretString: string }) {}
  }
  class SecretsManagerClient {
    async send(cmd: GetSecretValueCommand | PutSecretValueCommand) {
      if (cmd instanceof GetSecretValueCommand) {
        if (opts.failGet) throw new Error('AccessDeniedException: not allowed');
        return { SecretString: secrets.get(cmd.input.SecretId) };
      }
      puts.push(cmd.input.SecretId);
      secrets.set(cmd.input.SecretId, cmd.input.SecretString);
      return {};
    }
  }
  const https = {
    request(url: string, _o: unknown, onResponse: (res: unknown) => void) {
      return {
        on() {},
        end(body: string) {
          responses.push({ url, ...JSON.parse(body) });
          onResponse({ resume() {}, on: (_e: string, fn: () => void) => fn() });
        },
      };
    },
  };
  const modules: Record<string, unknown> = {
    'node:crypto': crypto,
    'node:https': https,
    '@aws-sdk/client-secrets-manager': { SecretsManagerClient, GetSecretValueCommand, PutSecretValueCommand },
  };
  const module = { exports: {} as { handler: (e: unknown) => Promise<void> } };
  new Function('require', 'exports', 'module', KEY_GENERATOR_SOURCE)(
    (name: string) => modules[name],
    module.exports,
    module,
  );
  return { handler: module.exports.handler, puts, responses };
}

const event = (RequestType: string) => ({
  RequestType,
  ResponseURL: 'https://cloudformation-custom-resource-response.example/abc',
  StackId: 'stack',
  RequestId: 'req-1',
  LogicalResourceId: 'KeysKeys',
  ResourceProperties: {
    Secrets: [
      { SecretId: 'master', Kind: 'aes-256-base64' },
      { SecretId: 'webhook', Kind: 'ed25519-pem' },
    ],
  },
});

describe('the generated-keys custom resource', () => {
  it('replaces the placeholder passwords with a 32-byte base64 key and an Ed25519 PEM, then answers SUCCESS', async () => {
    const secrets = new Map([
      ['master', 'Xy7-placeholder-password-from-CFN'],
      ['webhook', 'another placeholder'],
    ]);
    const g = loadGenerator(secrets);
    await g.handler(event('Create'));
    const master = secrets.get('master')!;
    // control/src/secrets/secret-box.ts accepts exactly this: 32 bytes whose base64 reads back the same.
    expect(Buffer.from(master, 'base64')).toHaveLength(32);
    expect(Buffer.from(master, 'base64').toString('base64')).toBe(master);
    expect(createPrivateKey(secrets.get('webhook')!).asymmetricKeyType).toBe('ed25519');
    expect(g.responses).toEqual([
      expect.objectContaining({ Status: 'SUCCESS', RequestId: 'req-1', LogicalResourceId: 'KeysKeys' }),
    ]);
  });

  it('never replaces keys already in place, so an update cannot orphan sealed secrets', async () => {
    const secrets = new Map<string, string>();
    const first = loadGenerator(secrets);
    await first.handler(event('Create'));
    const before = new Map(secrets);
    const again = loadGenerator(secrets);
    await again.handler(event('Update'));
    expect(again.puts).toEqual([]);
    expect(secrets).toEqual(before);
    expect(again.responses[0]).toMatchObject({ Status: 'SUCCESS' });
  });

  it('leaves the secrets alone on Delete', async () => {
    const secrets = new Map([['master', 'x']]);
    const g = loadGenerator(secrets);
    await g.handler(event('Delete'));
    expect(g.puts).toEqual([]);
    expect(g.responses[0]).toMatchObject({ Status: 'SUCCESS' });
  });

  it('answers FAILED with the reason, rather than leaving CloudFormation waiting an hour', async () => {
    const g = loadGenerator(new Map(), { failGet: true });
    await g.handler(event('Create'));
    expect(g.responses).toEqual([
      expect.objectContaining({ Status: 'FAILED', Reason: 'AccessDeniedException: not allowed' }),
    ]);
  });
});
