/**
 * Where an environment's secrets live for runners on ECS: AWS Secrets Manager, one secret per name
 * (`<prefix>/<environment id>/<NAME>`), so a task definition can name each by ARN in `secrets[]`
 * (`valueFrom`) and the ECS agent, with the execution role, puts the value into the container. No
 * value then travels in an ECS call, shows in DescribeTasks or counts against RunTask's 8 KiB of
 * overrides.
 *
 * Control's own store stays the source of truth; this is a mirror written before each start (and on
 * `secrets set`/`unset`), so secrets set before the switch to ECS, or while Secrets Manager was
 * unreachable, reach it too. Only four calls are needed, so they are made over Secrets Manager's
 * JSON protocol with the SDK's own signer rather than a whole client.
 */
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity } from '@smithy/types';

export interface SecretsManagerOptions {
  region: string;
  /** The SDK's credential chain (e.g. an ECS client's `config.credentials`). */
  credentials: () => Promise<AwsCredentialIdentity>;
  /** AWS_ENDPOINT_URL_SECRETS_MANAGER, else the regional endpoint. */
  endpoint?: string;
  /** First part of every secret name (the install's name). */
  prefix: string;
  fetch?: typeof fetch;
}

export class SecretsManagerError extends Error {
  override readonly name: string;
  constructor(
    type: string,
    message: string,
    readonly status: number,
  ) {
    super(`${type}: ${message}`);
    this.name = type;
  }
}

/** One environment's secret names with their `valueFrom` (the secret's ARN). */
export type SecretRefs = Record<string, string>;

export class SecretsManagerMirror {
  private readonly signer: SignatureV4;
  private readonly endpoint: URL;
  /** Secret name → its ARN and a hash of the value this process last wrote there. */
  private readonly written = new Map<string, { arn: string; hash: string }>();

  constructor(private readonly o: SecretsManagerOptions) {
    this.endpoint = new URL(o.endpoint ?? `https://secretsmanager.${o.region}.amazonaws.com`);
    this.signer = new SignatureV4({
      credentials: o.credentials,
      region: o.region,
      service: 'secretsmanager',
      sha256: Sha256,
    });
  }

  /** The Secrets Manager name of one secret of an environment. */
  nameOf(envId: string, name: string): string {
    return `${this.o.prefix}/${envId}/${name}`;
  }

  /**
   * Writes every value that differs from what this process last wrote (all of them after a
   * restart), and answers the references a task definition uses: name → ARN.
   */
  async sync(envId: string, values: Record<string, string>): Promise<SecretRefs> {
    const refs: SecretRefs = {};
    for (const [name, value] of Object.entries(values)) {
      const id = this.nameOf(envId, name);
      const hash = createHash('sha256').update(value).digest('base64');
      const known = this.written.get(id);
      if (known?.hash === hash) {
        refs[name] = known.arn;
        continue;
      }
      const arn = await this.put(id, value, envId);
      this.written.set(id, { arn, hash });
      refs[name] = arn;
    }
    return refs;
  }

  /** Writes one value, creating the secret the first time. */
  private async put(id: string, value: string, envId: string): Promise<string> {
    try {
      const out = await this.call('PutSecretValue', { SecretId: id, SecretString: value });
      return String(out.ARN);
    } catch (err) {
      if (!(err instanceof SecretsManagerError && err.name === 'ResourceNotFoundException')) throw err;
    }
    const out = await this.call('CreateSecret', {
      Name: id,
      SecretString: value,
      Description: 'Written by Gantry control: a secret of one environment, read by its runner tasks.',
      Tags: [{ Key: 'gantry:environment', Value: envId }],
    });
    return String(out.ARN);
  }

  /** Deletes secrets at once (no recovery window: the same name may be set again right away). */
  async remove(envId: string, names: string[]): Promise<void> {
    for (const name of names) {
      const id = this.nameOf(envId, name);
      this.written.delete(id);
      try {
        await this.call('DeleteSecret', { SecretId: id, ForceDeleteWithoutRecovery: true });
      } catch (err) {
        if (!(err instanceof SecretsManagerError && err.name === 'ResourceNotFoundException')) throw err;
      }
    }
  }

  private async call(op: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const payload = JSON.stringify(body);
    const signed = await this.signer.sign({
      method: 'POST',
      protocol: this.endpoint.protocol,
      hostname: this.endpoint.hostname,
      ...(this.endpoint.port ? { port: Number(this.endpoint.port) } : {}),
      path: this.endpoint.pathname,
      query: {},
      headers: {
        host: this.endpoint.host,
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': `secretsmanager.${op}`,
      },
      body: payload,
    });
    const res = await (this.o.fetch ?? fetch)(this.endpoint, {
      method: 'POST',
      headers: signed.headers,
      body: payload,
    });
    const text = await res.text();
    const out = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (!res.ok) {
      const type = String(out.__type ?? res.headers.get('x-amzn-errortype') ?? 'UnknownError')
        .split('#')
        .pop()!
        .split(':')[0]!;
      throw new SecretsManagerError(type, String(out.message ?? out.Message ?? res.statusText), res.status);
    }
    return out;
  }
}

/** A hash in the shape the signer takes. */
class Sha256 {
  private readonly hash;
  constructor(secret?: unknown) {
    this.hash =
      secret === undefined
        ? createHash('sha256')
        : createHmac('sha256', Buffer.from(secret as Uint8Array | string));
  }
  update(data: Uint8Array | string): void {
    this.hash.update(typeof data === 'string' ? Buffer.from(data) : data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}
