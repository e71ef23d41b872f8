/**
 * Source of the custom resource that fills control's generated keys into Secrets Manager. Secrets
 * Manager can only generate printable passwords, and control needs 32 random bytes in base64 (the
 * secrets master key) and an Ed25519 key in PEM (webhook signatures, the same for every control
 * task). Kept as plain CommonJS text so it goes into the template inline (no asset, no bundling)
 * and a unit test can run it with stand-ins for the SDK and the response URL.
 *
 * A secret that already holds a valid key is left alone, so re-creating the resource (or a stack
 * update) never replaces a key that sealed data.
 */
export const KEY_GENERATOR_SOURCE = `'use strict';
const crypto = require('node:crypto');
const https = require('node:https');
const { SecretsManagerClient, GetSecretValueCommand, PutSecretValueCommand } = require('@aws-sdk/client-secrets-manager');

const KINDS = {
  'aes-256-base64': {
    valid: (v) => { const b = Buffer.from(v, 'base64'); return b.length === 32 && b.toString('base64') === v; },
    make: () => crypto.randomBytes(32).toString('base64'),
  },
  'ed25519-pem': {
    valid: (v) => { try { return crypto.createPrivateKey(v).asymmetricKeyType === 'ed25519'; } catch { return false; } },
    make: () => crypto.generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
  },
};

let client;
async function fill(secretId, kind) {
  const k = KINDS[kind];
  if (!k) throw new Error('unknown key kind ' + kind);
  client = client || new SecretsManagerClient({});
  const current = (await client.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString || '';
  if (k.valid(current)) return;
  await client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: k.make() }));
}

function respond(event, status, reason) {
  const body = JSON.stringify({
    Status: status,
    Reason: reason,
    PhysicalResourceId: event.PhysicalResourceId || 'generated-keys',
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    Data: {},
  });
  return new Promise((resolve, reject) => {
    const req = https.request(event.ResponseURL, {
      method: 'PUT',
      headers: { 'content-type': '', 'content-length': Buffer.byteLength(body) },
    }, (res) => { res.resume(); res.on('end', resolve); });
    req.on('error', reject);
    req.end(body);
  });
}

exports.handler = async (event) => {
  try {
    if (event.RequestType !== 'Delete') {
      for (const s of event.ResourceProperties.Secrets) await fill(s.SecretId, s.Kind);
    }
    await respond(event, 'SUCCESS', 'keys in place');
  } catch (err) {
    await respond(event, 'FAILED', String((err && err.message) || err));
  }
};
`;
