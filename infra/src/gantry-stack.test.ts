import { readFile } from 'node:fs/promises';
import { Validations } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  FULL_CONTEXT,
  iamStatements,
  resourcesOfType as ofType,
  type Resources,
  type Synthesised,
  synthGantry,
} from './testing/synth-app.ts';

// One synth for the whole file: it takes seconds, far more on a loaded machine.
let s: Synthesised;
let gantry: Template;
let registry: Template;
beforeAll(() => {
  s = synthGantry(FULL_CONTEXT);
  gantry = s.gantryTemplate;
  registry = s.registryTemplate;
}, 240_000);

const resources = (t: Template) => (t.toJSON() as { Resources: Resources }).Resources;
const controlContainer = () => {
  const [[, td]] = ofType(gantry, 'AWS::ECS::TaskDefinition') as [[string, Resources[string]]];
  return td.Properties.ContainerDefinitions[0] as {
    Environment: { Name: string; Value: unknown }[];
    Secrets: { Name: string; ValueFrom: unknown }[];
  };
};
const env = (name: string) => controlContainer().Environment.find((e) => e.Name === name)?.Value;

describe('network', () => {
  it('two public and two private subnets, one NAT gateway, and the endpoints that keep pulls off it', () => {
    gantry.resourceCountIs('AWS::EC2::VPC', 1);
    gantry.resourceCountIs('AWS::EC2::Subnet', 4);
    gantry.resourceCountIs('AWS::EC2::NatGateway', 1);
    gantry.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Gateway',
      ServiceName: Match.objectLike({
        'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('\\.s3$')])],
      }),
    });
    const interfaces = ofType(gantry, 'AWS::EC2::VPCEndpoint')
      .filter(([, r]) => r.Properties.VpcEndpointType === 'Interface')
      .map(([, r]) => JSON.stringify(r.Properties.ServiceName));
    for (const service of ['ecr.api', 'ecr.dkr', 'sqs', 'logs', 'secretsmanager']) {
      expect(
        interfaces.some((n) => n.includes(`.${service}"`)),
        service,
      ).toBe(true);
    }
    expect(interfaces).toHaveLength(5);
  });

  it('lets only Gantry security groups reach the endpoints, never an address range', () => {
    const endpointSg = ofType(gantry, 'AWS::EC2::SecurityGroup').find(([, r]) =>
      String(r.Properties.GroupDescription).startsWith('Interface endpoints'),
    )!;
    expect(endpointSg[1].Properties.SecurityGroupIngress ?? []).toEqual([]);
    const ingress = ofType(gantry, 'AWS::EC2::SecurityGroupIngress').filter(([, r]) =>
      JSON.stringify(r.Properties.GroupId).includes(endpointSg[0]),
    );
    expect(ingress).toHaveLength(3); // GPU instances, runner tasks, control tasks
    for (const [, r] of ingress) {
      expect(r.Properties).toMatchObject({
        FromPort: 443,
        ToPort: 443,
        SourceSecurityGroupId: expect.anything(),
      });
      expect(r.Properties.CidrIp).toBeUndefined();
    }
  });
});

describe('GPU capacity', () => {
  it('one group per machine type from zero, on the ECS-optimised GPU AMI, with encrypted disks and IMDSv2', () => {
    const templates = ofType(gantry, 'AWS::EC2::LaunchTemplate').map(
      ([, r]) => r.Properties.LaunchTemplateData,
    );
    expect(templates.map((t) => t.InstanceType).sort()).toEqual(['g5.xlarge', 'g6.xlarge']);
    for (const t of templates) {
      expect(t.MetadataOptions).toEqual({ HttpTokens: 'required' });
      expect(t.BlockDeviceMappings[0].Ebs).toMatchObject({ Encrypted: true, VolumeType: 'gp3' });
      const ami = (gantry.toJSON() as { Parameters: Record<string, { Default: string }> }).Parameters[
        t.ImageId.Ref
      ];
      expect(ami?.Default).toBe('/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id');
      expect(JSON.stringify(t.UserData)).toContain('ECS_AWSVPC_BLOCK_IMDS=true');
    }
    const groups = ofType(gantry, 'AWS::AutoScaling::AutoScalingGroup').map(([, r]) => r.Properties);
    expect(groups.map((g) => [g.MinSize, g.MaxSize]).sort()).toEqual([
      ['0', '2'],
      ['0', '4'],
    ]);
    for (const g of groups) expect(g.NewInstancesProtectedFromScaleIn).toBe(true);
  });

  it('capacity providers with managed scaling and termination protection, named in control’s setting', () => {
    const providers = ofType(gantry, 'AWS::ECS::CapacityProvider').map(([, r]) => r.Properties);
    expect(providers.map((p) => p.Name).sort()).toEqual(['gantry-gpu-a10g', 'gantry-gpu-l4']);
    for (const p of providers) {
      expect(p.AutoScalingGroupProvider).toMatchObject({
        ManagedScaling: { Status: 'ENABLED', TargetCapacity: 100 },
        ManagedTerminationProtection: 'ENABLED',
      });
    }
    expect(JSON.parse(env('GANTRY_ECS_CAPACITY_PROVIDERS') as string)).toEqual({
      'GPU-A10G': 'gantry-gpu-a10g',
      'GPU-L4': 'gantry-gpu-l4',
    });
    gantry.hasResourceProperties('AWS::ECS::ClusterCapacityProviderAssociations', {
      CapacityProviders: Match.arrayWith([{ Ref: Match.anyValue() }, { Ref: Match.anyValue() }]),
    });
  });

  it('a warm pool of stopped instances only where one was asked for, and the agent told about it', () => {
    gantry.resourceCountIs('AWS::AutoScaling::WarmPool', 1);
    gantry.hasResourceProperties('AWS::AutoScaling::WarmPool', {
      MinSize: 1,
      PoolState: 'Stopped',
      InstanceReusePolicy: { ReuseOnScaleIn: true },
    });
    const withCheck = ofType(gantry, 'AWS::EC2::LaunchTemplate').filter(([, r]) =>
      JSON.stringify(r.Properties.LaunchTemplateData.UserData).includes('ECS_WARM_POOLS_CHECK=true'),
    );
    expect(withCheck.map(([, r]) => r.Properties.LaunchTemplateData.InstanceType)).toEqual(['g5.xlarge']);
  });
});

describe('data', () => {
  it('PostgreSQL, encrypted, private, kept as a snapshot, reachable from control only', () => {
    gantry.hasResource('AWS::RDS::DBInstance', {
      DeletionPolicy: 'Snapshot',
      Properties: Match.objectLike({
        Engine: 'postgres',
        StorageEncrypted: true,
        MultiAZ: true,
        DeletionProtection: true,
        PubliclyAccessible: false,
        DBName: 'gantry',
      }),
    });
    const dbSg = ofType(gantry, 'AWS::EC2::SecurityGroup').find(([, r]) =>
      String(r.Properties.GroupDescription).startsWith('Gantry PostgreSQL'),
    )!;
    const ingress = ofType(gantry, 'AWS::EC2::SecurityGroupIngress').filter(([, r]) =>
      JSON.stringify(r.Properties.GroupId).includes(dbSg[0]),
    );
    expect(ingress).toHaveLength(1);
    expect(JSON.stringify(ingress[0]![1].Properties.SourceSecurityGroupId)).toContain('ControlSg');
  });

  it('control connects with the generated credentials, none of them in plain text', () => {
    expect(env('DATABASE_URL')).toBe('postgres:///gantry?sslmode=no-verify');
    const secrets = controlContainer().Secrets.map((x) => x.Name);
    expect(secrets).toEqual(
      expect.arrayContaining([
        'PGHOST',
        'PGPORT',
        'PGUSER',
        'PGPASSWORD',
        'GANTRY_ADMIN_KEY',
        'GANTRY_SECRETS_KEY',
      ]),
    );
    expect(secrets).toEqual(
      expect.arrayContaining(['GANTRY_WEBHOOK_PRIVATE_KEY', 'APP_ID', 'PRIVATE_KEY', 'WEBHOOK_SECRET']),
    );
    const plain = controlContainer().Environment.map((e) => e.Name);
    expect(plain.filter((n) => secrets.includes(n))).toEqual([]);
  });

  it('keys are generated into Secrets Manager before control starts, and kept on removal', () => {
    const keySecrets = ofType(gantry, 'AWS::SecretsManager::Secret').filter(([id]) => id.startsWith('Keys'));
    expect(keySecrets).toHaveLength(4);
    for (const [id] of keySecrets) {
      expect(resources(gantry)[id]).toMatchObject({
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    }
    const github = keySecrets.find(([id]) => id.startsWith('KeysGitHubApp'))![1];
    expect(JSON.parse(github.Properties.SecretString)).toEqual({
      APP_ID: '',
      PRIVATE_KEY: '',
      WEBHOOK_SECRET: '',
    });
    const [[crId, cr]] = ofType(gantry, 'AWS::CloudFormation::CustomResource') as [
      [string, Resources[string]],
    ];
    expect(cr.Properties.Secrets.map((x: { Kind: string }) => x.Kind)).toEqual([
      'aes-256-base64',
      'ed25519-pem',
    ]);
    const [[, service]] = ofType(gantry, 'AWS::ECS::Service') as [[string, Resources[string]]];
    expect(service.DependsOn).toContain(crId);
    gantry.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Code: { ZipFile: Match.stringLikeRegexp('PutSecretValueCommand') },
    });
  });

  it('ECR repositories for control, the runner and each listed repository, scanned on push', () => {
    const names = ofType(registry, 'AWS::ECR::Repository').map(([, r]) => r.Properties.RepositoryName);
    expect(names.sort()).toEqual([
      'gantry/apps/acme/sd-turbo',
      'gantry/apps/acme/whisper',
      'gantry/control',
      'gantry/runner',
    ]);
    for (const [, r] of ofType(registry, 'AWS::ECR::Repository')) {
      expect(r.Properties.ImageScanningConfiguration).toEqual({ ScanOnPush: true });
    }
  });
});

describe('control service', () => {
  it('two Fargate tasks in private subnets, rolled back by the circuit breaker', () => {
    gantry.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 2,
      LaunchType: 'FARGATE',
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
      DeploymentConfiguration: Match.objectLike({
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        MinimumHealthyPercent: 100,
      }),
      ServiceRegistries: [Match.objectLike({ RegistryArn: Match.anyValue() })],
    });
    gantry.hasResourceProperties('AWS::ServiceDiscovery::PrivateDnsNamespace', { Name: 'gantry.internal' });
    expect(env('GANTRY_CONTROL_URL')).toBe('http://control.gantry.internal:8080');
    gantry.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/gantry/control' });
  });

  it('HTTPS with the given certificate, HTTP redirected, idle timeout beyond the longest wait', () => {
    gantry.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      LoadBalancerAttributes: Match.arrayWith([
        { Key: 'idle_timeout.timeout_seconds', Value: '3660' },
        { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
      ]),
    });
    gantry.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: FULL_CONTEXT.certificateArn }],
    });
    gantry.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [
        Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Port: '443' }) }),
      ],
    });
    expect(Number(env('GANTRY_SYNC_TIMEOUT'))).toBeLessThan(3660);
    expect(env('GANTRY_PUBLIC_URL')).toBe('https://gantry.example.com');
  });

  it("checks control's health endpoint on the task port", () => {
    gantry.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 8080,
      TargetType: 'ip',
      HealthCheckPath: '/healthz',
      Matcher: { HttpCode: '200' },
    });
  });

  it('control runs runners on ECS and queues on SQS, with the runner image from this install', () => {
    expect(env('GANTRY_COMPUTE')).toBe('ecs');
    expect(env('GANTRY_QUEUE')).toBe('sqs');
    expect(env('GANTRY_SQS_QUEUE_PREFIX')).toBe('gantry');
    expect(env('GANTRY_DEPLOY_EXAMPLE')).toBe('false');
    expect(JSON.stringify(env('GANTRY_ECS_RUNNER_IMAGE'))).toContain('/gantry/runner:latest');
    expect(env('GANTRY_ECS_LOG_GROUP')).toBe('/gantry/runners');
    expect(env('GANTRY_ECS_CLUSTER')).toBe('gantry');
    gantry.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/gantry/runners' });
  });
});

describe('IAM', () => {
  // Actions AWS offers no resource-level permission for: `*` is their narrowest resource.
  const NO_RESOURCE_LEVEL = new Set([
    'ecr:GetAuthorizationToken',
    'ecs:RegisterTaskDefinition',
    'ecs:DiscoverPollEndpoint',
  ]);
  // Actions on `*` narrowed by the cluster condition instead (as AWS's own ECS drain hook does).
  const CLUSTER_CONDITIONED = new Set(['ecs:ListTasks']);
  const list = (v: unknown) => (Array.isArray(v) ? v : [v]);

  it('no wildcard action anywhere, and `*` resources only for actions that have nothing narrower', () => {
    const statements = [...iamStatements(gantry), ...iamStatements(registry)];
    expect(statements.length).toBeGreaterThan(15);
    for (const { where, statement } of statements) {
      for (const action of list(statement.Action) as string[]) {
        expect(action, `${where}: ${action}`).not.toMatch(/\*/);
      }
      if (list(statement.Resource).includes('*')) {
        const condition = statement.Condition as { ArnEquals?: Record<string, unknown> } | undefined;
        const conditioned = condition?.ArnEquals?.['ecs:cluster'] !== undefined;
        const broad = (list(statement.Action) as string[]).filter(
          (a) => !NO_RESOURCE_LEVEL.has(a) && !(conditioned && CLUSTER_CONDITIONED.has(a)),
        );
        expect(broad, `${where} grants these on *`).toEqual([]);
      }
    }
  });

  const controlStatements = () =>
    iamStatements(gantry)
      .filter(({ where }) => where.startsWith('ControlTaskRole'))
      .map(({ statement }) => statement);

  it('control may run tasks only from gantry- task definitions, only on this cluster', () => {
    const run = controlStatements().find((st) => list(st.Action).includes('ecs:RunTask'))!;
    expect(JSON.stringify(run.Resource)).toContain(':task-definition/gantry-*');
    expect(run.Condition).toEqual({
      ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [expect.stringMatching(/^Cluster/), 'Arn'] } },
    });
    const stop = controlStatements().find((st) => list(st.Action).includes('ecs:StopTask'))!;
    expect(JSON.stringify(stop.Resource)).toContain(':task/gantry/*');
  });

  it('control may pass exactly the two runner roles, and only to ECS tasks', () => {
    const pass = controlStatements().filter((st) => list(st.Action).includes('iam:PassRole'));
    expect(pass).toHaveLength(1);
    expect(
      list(pass[0]!.Resource)
        .map((r) => JSON.stringify(r))
        .sort(),
    ).toEqual([expect.stringContaining('RunnersExecutionRole'), expect.stringContaining('RunnersTaskRole')]);
    expect(pass[0]!.Condition).toEqual({
      StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
    });
  });

  it("SQS rights only for control, on queues under the install's prefix; runner tasks (and so apps) get none", () => {
    const sqs = iamStatements(gantry).filter(({ statement }) =>
      (list(statement.Action) as string[]).some((a) => a.startsWith('sqs:')),
    );
    expect(sqs.map((x) => x.where.replace(/DefaultPolicy.*/, ''))).toEqual(['ControlTaskRole']);
    for (const { statement } of sqs) expect(JSON.stringify(statement.Resource)).toMatch(/:gantry-\*"\]\]\}$/);
    // Runners pull through control, so the task role the app shares needs nothing from Gantry.
    expect(env('GANTRY_ECS_RUNNER_QUEUE')).not.toBe('direct');
    expect(iamStatements(gantry).filter(({ where }) => where.startsWith('RunnersTaskRole'))).toEqual([]);
  });

  it("secrets: control writes only under the install's prefix, with the calls its code makes; runner tasks only read them", () => {
    expect(env('GANTRY_ECS_SECRET_PREFIX')).toBe('gantry');
    const onSecrets = iamStatements(gantry).filter(
      ({ where, statement }) =>
        (list(statement.Action) as string[]).some((a) => a.startsWith('secretsmanager:')) &&
        // Control's and the key generator's own keys are secrets of the stack, by ARN.
        !where.startsWith('ControlTaskExecutionRole') &&
        !where.startsWith('KeysGeneratorRole'),
    );
    const by = Object.fromEntries(
      onSecrets.map(({ where, statement }) => [where.replace(/DefaultPolicy.*/, ''), statement]),
    );
    expect(Object.keys(by).sort()).toEqual(['ControlTaskRole', 'RunnersExecutionRole']);
    expect(by.ControlTaskRole!.Action).toEqual([
      'secretsmanager:CreateSecret',
      'secretsmanager:PutSecretValue',
      'secretsmanager:DeleteSecret',
      'secretsmanager:TagResource',
    ]);
    expect(by.RunnersExecutionRole!.Action).toBe('secretsmanager:GetSecretValue');
    for (const st of Object.values(by))
      expect(JSON.stringify(st.Resource)).toMatch(/:secret:gantry\/\*"\]\]\}$/);
    // The secrets use the AWS managed key: no kms rights anywhere.
    expect(JSON.stringify(iamStatements(gantry))).not.toContain('kms:');
  });

  it("the README's ECS section lists exactly the actions each role is granted", async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const table = readme.slice(readme.indexOf('**IAM.** Exactly what the code calls'));
    const listed: Record<string, Set<string>> = { control: new Set(), execution: new Set(), task: new Set() };
    for (const line of table.split('\n').slice(0, 40)) {
      const [, role, actions] = line.split('|').map((c) => c.trim());
      if (!role || !(role in listed)) continue;
      for (const m of actions!.matchAll(/`([a-z0-9]+:[A-Za-z]+)`/g)) listed[role]!.add(m[1]!);
    }
    const granted = (role: string) =>
      new Set(
        iamStatements(gantry)
          .filter(({ where }) => where.startsWith(role))
          .flatMap(({ statement }) => list(statement.Action) as string[]),
      );
    expect([...listed.control!].sort()).toEqual([...granted('ControlTaskRole')].sort());
    expect([...listed.execution!].sort()).toEqual([...granted('RunnersExecutionRole')].sort());
    expect([...listed.task!]).toEqual([...granted('RunnersTaskRole')]);
    expect(listed.control!.size).toBeGreaterThan(10);
  });

  it("control may list only its cluster's tasks (to find runners again after a restart)", () => {
    const listTasks = controlStatements().find((st) => list(st.Action).includes('ecs:ListTasks'))!;
    expect(listTasks.Condition).toEqual({
      ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [expect.stringMatching(/^Cluster/), 'Arn'] } },
    });
  });

  it('each deploy role is trusted by one repository through GitHub OIDC and pushes to its own repository only', () => {
    registry.hasResourceProperties('AWS::IAM::OIDCProvider', {
      Url: 'https://token.actions.githubusercontent.com',
      ClientIdList: ['sts.amazonaws.com'],
    });
    const roles = ofType(registry, 'AWS::IAM::Role').filter(([id]) => id.startsWith('Deploy'));
    expect(roles).toHaveLength(2);
    for (const [id, role] of roles) {
      const repo = id.startsWith('DeployAcmeSdTurbo') ? 'acme/sd-turbo' : 'acme/whisper';
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        expect.objectContaining({
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: {
            StringEquals: { 'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com' },
            StringLike: { 'token.actions.githubusercontent.com:sub': `repo:${repo}:*` },
          },
        }),
      ]);
      const push = iamStatements(registry).find(
        ({ where, statement }) =>
          where.startsWith(id.replace(/[0-9A-F]{8}$/, '')) && list(statement.Action).includes('ecr:PutImage'),
      )!;
      const [repoId] = ofType(registry, 'AWS::ECR::Repository').find(
        ([, r]) => r.Properties.RepositoryName === `gantry/apps/${repo}`,
      )!;
      expect(push.statement.Resource).toEqual({ 'Fn::GetAtt': [repoId, 'Arn'] });
    }
  });
});

describe('alarms', () => {
  it('dead letters, control 5xx, control down and failed capacity all page the alarm topic', () => {
    const alarms = ofType(gantry, 'AWS::CloudWatch::Alarm').map(([, r]) => r.Properties);
    expect(alarms).toHaveLength(4);
    for (const a of alarms) expect(a.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^AlarmTopic/) }]);
    const dlq = alarms.find((a) => String(a.AlarmDescription).includes('dead-lettered'))!;
    expect(dlq.Metrics[0].Expression).toBe(
      `SELECT MAX(ApproximateNumberOfMessagesVisible) FROM SCHEMA("AWS/SQS", QueueName) WHERE QueueName LIKE 'gantry-%-dlq'`,
    );
    const errors = alarms.find((a) => String(a.AlarmDescription).includes('5xx'))!;
    expect(errors.Threshold).toBe(5);
    gantry.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
  });

  it('capacity failures are caught as they happen: instance launches and runner tasks starved of capacity', () => {
    gantry.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ 'detail-type': ['EC2 Instance Launch Unsuccessful'] }),
      Targets: [Match.objectLike({ Arn: { Ref: Match.stringLikeRegexp('^AlarmTopic') } })],
    });
    gantry.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({
        detail: Match.objectLike({
          stopCode: ['TaskFailedToStart'],
          stoppedReason: [{ wildcard: '*apacity*' }],
        }),
      }),
    });
  });
});

describe('cdk-nag (AWS Solutions)', () => {
  it('passes with no unacknowledged finding, and every acknowledgement says why', () => {
    // synthGantry throws, naming each finding, when cdk-nag refuses the app.
    const acknowledged: [string, string][] = [];
    for (const c of s.app.node.findAll()) {
      for (const m of c.node.metadata) {
        if (m.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        acknowledged.push(...Object.entries(m.data as Record<string, string>));
      }
    }
    expect(acknowledged.length).toBeGreaterThan(10);
    for (const [id, reason] of acknowledged) expect(reason.length, id).toBeGreaterThan(40);
  });
});

describe('snapshot', () => {
  it('the templates change only when the code does', async () => {
    await expect(JSON.stringify(registry.toJSON(), null, 2) + '\n').toMatchFileSnapshot(
      '__snapshots__/GantryRegistry.template.json',
    );
    await expect(JSON.stringify(gantry.toJSON(), null, 2) + '\n').toMatchFileSnapshot(
      '__snapshots__/Gantry.template.json',
    );
  });
});
