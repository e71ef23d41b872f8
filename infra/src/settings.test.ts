import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InfraSettingsError, parseSettings, SETTINGS } from './settings.ts';

const cdkJson = JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

const problems = (context: Record<string, unknown>): string => {
  try {
    parseSettings(context);
  } catch (err) {
    expect(err).toBeInstanceOf(InfraSettingsError);
    return (err as Error).message;
  }
  throw new Error('expected the settings to be refused');
};

describe('infra settings', () => {
  it('cdk.json holds every setting with its default, and nothing else', () => {
    const fromFile = parseSettings(cdkJson.context);
    const defaults = parseSettings({});
    expect(fromFile).toEqual({ ...defaults, machineTypes: fromFile.machineTypes });
    const optional = [
      'vpcId',
      'availabilityZones',
      'privateSubnetIds',
      'publicSubnetIds',
      'controlImage',
      'runnerImage',
      'gheHost',
    ];
    expect(Object.keys(cdkJson.context).sort()).toEqual(
      Object.keys(SETTINGS)
        .filter((k) => !optional.includes(k))
        .sort(),
    );
  });

  it('takes the strings `-c name=value` gives as well as JSON', () => {
    const s = parseSettings({
      controlTasks: '1',
      vpcEndpoints: 'true',
      githubRepositories: 'acme/sd-turbo, acme/whisper',
      machineTypes: '{"GPU-L4":{"instanceType":"g6.xlarge","maxInstances":"3","warmPool":1}}',
    });
    expect(s.controlTasks).toBe(1);
    expect(s.vpcEndpoints).toBe(true);
    expect(s.githubRepositories).toEqual(['acme/sd-turbo', 'acme/whisper']);
    expect(s.machineTypes).toEqual({ 'GPU-L4': { instanceType: 'g6.xlarge', maxInstances: 3, warmPool: 1 } });
  });

  it('names every bad setting at once', () => {
    const message = problems({
      controlTasks: 0,
      certificateArn: 'not-an-arn',
      githubRepositories: ['acme'],
      vpcEndpoints: 'maybe',
    });
    expect(message).toContain('controlTasks must be a whole number from 1 to 10, got 0');
    expect(message).toContain('certificateArn must be an ACM certificate ARN');
    expect(message).toContain('githubRepositories[0] must be a GitHub repository owner/name, got "acme"');
    expect(message).toContain('vpcEndpoints must be true or false, got "maybe"');
  });

  it('refuses machine types with unknown fields or a warm pool larger than the group', () => {
    expect(problems({ machineTypes: { 'GPU-A10G': { instanceType: 'g5.xlarge', gpus: 1 } } })).toContain(
      'machineTypes.GPU-A10G must be only instanceType, maxInstances and warmPool, got "gpus"',
    );
    expect(
      problems({ machineTypes: { 'GPU-A10G': { instanceType: 'g5.xlarge', maxInstances: 1, warmPool: 2 } } }),
    ).toContain('machineTypes.GPU-A10G.warmPool must be at most maxInstances (1), got 2');
    expect(problems({ machineTypes: {} })).toContain('machineTypes must be at least one machine type');
    expect(problems({ machineTypes: '{oops' })).toContain('machineTypes must be a JSON object');
  });

  it('an existing VPC needs its subnets and zones, and they mean nothing without one', () => {
    expect(problems({ vpcId: 'vpc-0abc' })).toMatch(
      /vpcId needs privateSubnetIds[\s\S]*vpcId needs publicSubnetIds/,
    );
    expect(problems({ privateSubnetIds: 'subnet-1,subnet-2' })).toContain('apply only with vpcId');
    const s = parseSettings({
      vpcId: 'vpc-0abc',
      availabilityZones: 'eu-west-1a,eu-west-1b',
      privateSubnetIds: 'subnet-01,subnet-02',
      publicSubnetIds: 'subnet-03,subnet-04',
    });
    expect(s.privateSubnetIds).toEqual(['subnet-01', 'subnet-02']);
  });

  it('refuses names ECS would refuse for capacity providers, and repositories listed twice', () => {
    expect(problems({ name: 'ecs-gpu' })).toContain('name must not start with aws, ecs or fargate');
    expect(problems({ githubRepositories: ['acme/app', 'Acme/App'] })).toContain('lists a repository twice');
  });
});
