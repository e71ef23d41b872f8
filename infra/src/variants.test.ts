import { readFileSync } from 'node:fs';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  iamStatements,
  resourcesOfType as ofType,
  type Resources,
  type Synthesised,
  synthGantry,
} from './testing/synth-app.ts';

const cdkJson = JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

const controlEnv = (s: Synthesised, name: string) => {
  const [[, td]] = ofType(s.gantryTemplate, 'AWS::ECS::TaskDefinition') as [[string, Resources[string]]];
  return (td.Properties.ContainerDefinitions[0].Environment as { Name: string; Value: unknown }[]).find(
    (e) => e.Name === name,
  )?.Value;
};

// Each synth takes seconds (far more on a loaded machine): once per variant, for the whole file.
let defaults: Synthesised;
let existing: Synthesised;
beforeAll(() => {
  defaults = synthGantry(cdkJson.context);
  existing = synthGantry({
    ...cdkJson.context,
    name: 'acme-gpu',
    vpcId: 'vpc-0123456789abcdef0',
    availabilityZones: 'eu-west-1a,eu-west-1b',
    privateSubnetIds: 'subnet-0aaa1111bbbb2222a,subnet-0aaa1111bbbb2222b',
    publicSubnetIds: 'subnet-0aaa1111bbbb2222c,subnet-0aaa1111bbbb2222d',
    vpcEndpoints: 'false',
    githubRepositories: 'acme/app',
    githubOidcProviderArn: 'arn:aws:iam::123456789012:oidc-provider/github.example.com/_services/token',
    gheHost: 'github.example.com',
    controlTasks: '1',
  });
}, 300_000);

describe('the defaults in cdk.json', () => {
  it('synthesise offline, with cdk-nag satisfied, into the registry and main stacks', () => {
    expect(defaults.registry.stackName).toBe('GantryRegistry');
    expect(defaults.gantry.stackName).toBe('Gantry');
    defaults.gantryTemplate.resourceCountIs('AWS::ECS::CapacityProvider', 1);
    defaults.gantryTemplate.hasResourceProperties('AWS::RDS::DBInstance', {
      MultiAZ: false,
      DBInstanceClass: 'db.t4g.micro',
    });
  });

  it('without a certificate: plain HTTP to control, and a warning that says how to fix it', () => {
    defaults.gantryTemplate.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
    defaults.gantryTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [Match.objectLike({ Type: 'forward' })],
    });
    defaults.gantryAnnotations.hasWarning(
      '/Gantry/Control',
      Match.stringLikeRegexp('No certificateArn: .*-c certificateArn='),
    );
    expect(controlEnv(defaults, 'GANTRY_PUBLIC_URL')).toBeUndefined();
  });

  it('no repositories listed: no OIDC provider and no deploy role, only the control and runner repositories', () => {
    defaults.registryTemplate.resourceCountIs('AWS::IAM::OIDCProvider', 0);
    defaults.registryTemplate.resourceCountIs('AWS::IAM::Role', 0);
    defaults.registryTemplate.resourceCountIs('AWS::ECR::Repository', 2);
  });
});

describe('an existing VPC, an existing OIDC provider, GitHub Enterprise Server and another name', () => {
  it('builds no network of its own and puts tasks in the given private subnets', () => {
    existing.gantryTemplate.resourceCountIs('AWS::EC2::VPC', 0);
    existing.gantryTemplate.resourceCountIs('AWS::EC2::Subnet', 0);
    existing.gantryTemplate.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    expect(controlEnv(existing, 'GANTRY_ECS_SUBNETS')).toBe(
      'subnet-0aaa1111bbbb2222a,subnet-0aaa1111bbbb2222b',
    );
    existing.gantryTemplate.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 1,
      NetworkConfiguration: {
        AwsvpcConfiguration: Match.objectLike({
          Subnets: ['subnet-0aaa1111bbbb2222a', 'subnet-0aaa1111bbbb2222b'],
        }),
      },
    });
    existing.gantryTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Subnets: ['subnet-0aaa1111bbbb2222c', 'subnet-0aaa1111bbbb2222d'],
    });
  });

  it('names follow the install: stacks, cluster, capacity providers, queues, repositories', () => {
    expect([existing.registry.stackName, existing.gantry.stackName]).toEqual(['AcmeGpuRegistry', 'AcmeGpu']);
    existing.gantryTemplate.hasResourceProperties('AWS::ECS::Cluster', { ClusterName: 'acme-gpu' });
    expect(JSON.parse(controlEnv(existing, 'GANTRY_ECS_CAPACITY_PROVIDERS') as string)).toEqual({
      'GPU-A10G': 'acme-gpu-gpu-a10g',
    });
    expect(controlEnv(existing, 'GANTRY_SQS_QUEUE_PREFIX')).toBe('acme-gpu');
    const sqs = iamStatements(existing.gantryTemplate).filter(({ statement }) =>
      JSON.stringify(statement.Action).includes('sqs:'),
    );
    for (const { statement } of sqs) expect(JSON.stringify(statement.Resource)).toContain(':acme-gpu-*');
    expect(controlEnv(existing, 'GANTRY_ECS_SECRET_PREFIX')).toBe('acme-gpu');
    const environmentSecrets = iamStatements(existing.gantryTemplate).filter(
      ({ where, statement }) =>
        /^(ControlTaskRole|RunnersExecutionRole)/.test(where) &&
        JSON.stringify(statement.Action).includes('secretsmanager:'),
    );
    expect(environmentSecrets).toHaveLength(2);
    for (const { statement } of environmentSecrets)
      expect(JSON.stringify(statement.Resource)).toContain(':secret:acme-gpu/*');
    expect(
      ofType(existing.registryTemplate, 'AWS::ECR::Repository')
        .map(([, r]) => r.Properties.RepositoryName)
        .sort(),
    ).toEqual(['acme-gpu/apps/acme/app', 'acme-gpu/control', 'acme-gpu/runner']);
  });

  it("trusts the Enterprise Server's token issuer through the account's existing provider", () => {
    existing.registryTemplate.resourceCountIs('AWS::IAM::OIDCProvider', 0);
    existing.registryTemplate.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Principal: {
              Federated: 'arn:aws:iam::123456789012:oidc-provider/github.example.com/_services/token',
            },
            Condition: {
              StringEquals: { 'github.example.com/_services/token:aud': 'sts.amazonaws.com' },
              StringLike: { 'github.example.com/_services/token:sub': 'repo:acme/app:*' },
            },
          }),
        ],
      },
    });
    expect(controlEnv(existing, 'GANTRY_OIDC_ISSUER')).toBe('https://github.example.com/_services/token');
    expect(controlEnv(existing, 'GHE_HOST')).toBe('github.example.com');
  });
});
