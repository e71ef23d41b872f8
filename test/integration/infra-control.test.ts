/**
 * The install and control agree: the settings the CDK app gives control's task are ones control
 * accepts (names and formats from control/src/config.ts), its machine types are control's, and
 * the load balancer's health check path is one control answers without a key.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, MACHINE_TYPES } from '../../control/index.ts';
import { loadMountedConfig } from '../../github-app/index.ts';
import { parseSettings } from '../../infra/index.ts';
import {
  FULL_CONTEXT,
  resourcesOfType,
  type Synthesised,
  synthGantry,
} from '../../infra/src/testing/synth-app.ts';
import { type InjectedControl, startInjectedControl } from '../support/injected-control.ts';

const cdkJson = JSON.parse(readFileSync(new URL('../../infra/cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

/** Stands in for what CloudFormation resolves at deploy time, with values of the right shape. */
function resolve(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (v.Ref === 'AWS::Region') return 'eu-west-1';
  if (v.Ref === 'AWS::AccountId') return '123456789012';
  if (v.Ref === 'AWS::URLSuffix') return 'amazonaws.com';
  if (typeof v.Ref === 'string')
    return v.Ref.includes('Subnet') ? `subnet-${v.Ref.length}` : v.Ref.toLowerCase();
  if (Array.isArray(v['Fn::GetAtt'])) {
    const [id, attr] = v['Fn::GetAtt'] as [string, string];
    return attr === 'Arn' ? `arn:aws:iam::123456789012:role/${id}` : `sg-${id.length}`;
  }
  if (Array.isArray(v['Fn::Join'])) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(resolve).join(sep);
  }
  throw new Error(`cannot stand in for ${JSON.stringify(value)}`);
}

/** What Secrets Manager hands the task, shaped as the install generates it. */
const SECRET_VALUES: Record<string, string> = {
  PGHOST: 'gantry.abc.eu-west-1.rds.amazonaws.com',
  PGPORT: '5432',
  PGUSER: 'gantry',
  PGPASSWORD: 'p@ss/word:with#signs',
  GANTRY_ADMIN_KEY: 'a'.repeat(48),
  GANTRY_SECRETS_KEY: randomBytes(32).toString('base64'),
  GANTRY_WEBHOOK_PRIVATE_KEY: generateKeyPairSync('ed25519')
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString(),
  APP_ID: '',
  PRIVATE_KEY: '',
  WEBHOOK_SECRET: '',
};

let synth: Synthesised;
let control: InjectedControl;
beforeAll(async () => {
  synth = synthGantry(FULL_CONTEXT);
  control = await startInjectedControl();
}, 240_000);
afterAll(() => control?.close());

describe('infra and control', () => {
  it('control accepts every setting the install gives its task, and runs on ECS and SQS with them', () => {
    const td = resourcesOfType(synth.gantryTemplate, 'AWS::ECS::TaskDefinition')[0]![1];
    const container = td.Properties.ContainerDefinitions[0] as {
      Environment: { Name: string; Value: unknown }[];
      Secrets: { Name: string }[];
    };
    const env: Record<string, string> = {};
    for (const e of container.Environment) env[e.Name] = resolve(e.Value);
    for (const s of container.Secrets) {
      expect(SECRET_VALUES, s.Name).toHaveProperty(s.Name);
      env[s.Name] = SECRET_VALUES[s.Name]!;
    }
    const config = loadConfig(env, '/');
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 8080,
      compute: 'ecs',
      queue: 'sqs',
      sqsQueuePrefix: 'gantry',
      ecsCluster: 'gantry',
      ecsRegion: 'eu-west-1',
      ecsCapacityProviders: { 'GPU-A10G': 'gantry-gpu-a10g', 'GPU-L4': 'gantry-gpu-l4' },
      ecsLogGroup: '/gantry/runners',
      deployExample: false,
      publicUrl: 'https://gantry.example.com',
      controlUrl: 'http://control.gantry.internal:8080',
      secretsKey: SECRET_VALUES.GANTRY_SECRETS_KEY,
    });
    // The GitHub App secret starts empty: control serves no App until it is filled.
    expect(loadMountedConfig(env)).toBeUndefined();
    const pem = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
      type: 'pkcs1',
      format: 'pem',
    });
    const filled = { ...env, APP_ID: '4242', PRIVATE_KEY: pem.toString(), WEBHOOK_SECRET: 'whsec' };
    expect(loadMountedConfig(filled)).toMatchObject({ appId: 4242, webhookSecret: 'whsec' });
    expect(config.ecsSubnets).toHaveLength(2);
    expect(config.ecsExecutionRoleArn).toMatch(/RunnersExecutionRole/);
    expect(config.ecsTaskRoleArn).toMatch(/RunnersTaskRole/);
  });

  it('every machine type the install offers is one control knows, on the instance control sized it for', () => {
    for (const context of [cdkJson.context, FULL_CONTEXT]) {
      for (const [type, pool] of Object.entries(parseSettings(context).machineTypes)) {
        expect(MACHINE_TYPES, type).toHaveProperty(type);
        expect(
          MACHINE_TYPES[type]!.instance.startsWith(pool.instanceType),
          `${type} on ${pool.instanceType}`,
        ).toBe(true);
      }
    }
  });

  it("the load balancer's health check path answers 200 from control, without a key", async () => {
    const tg = resourcesOfType(synth.gantryTemplate, 'AWS::ElasticLoadBalancingV2::TargetGroup')[0]![1];
    const res = await control.service.app.inject({ method: 'GET', url: tg.Properties.HealthCheckPath });
    expect(res.statusCode).toBe(200);
  });
});
