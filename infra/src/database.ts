/**
 * Control's PostgreSQL: one RDS instance in the private subnets, reachable only from control's
 * tasks, with its credentials generated into Secrets Manager. Kept (as a final snapshot) when the
 * stack is destroyed: it holds every app, revision and request.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import type { Network } from './network.ts';
import type { InfraSettings } from './settings.ts';

export const DATABASE_NAME = 'gantry';

export class Database extends Construct {
  readonly instance: rds.DatabaseInstance;
  readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, network: Network, settings: InfraSettings) {
    super(scope, id);
    this.securityGroup = new ec2.SecurityGroup(this, 'Sg', {
      vpc: network.vpc,
      description: 'Gantry PostgreSQL: from control tasks only',
      allowAllOutbound: false,
    });
    this.instance = new rds.DatabaseInstance(this, 'Instance', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17 }),
      instanceType: new ec2.InstanceType(settings.databaseInstanceType),
      vpc: network.vpc,
      vpcSubnets: network.privateSubnets,
      securityGroups: [this.securityGroup],
      databaseName: DATABASE_NAME,
      credentials: rds.Credentials.fromGeneratedSecret('gantry'),
      allocatedStorage: settings.databaseStorageGiB,
      storageType: rds.StorageType.GP3,
      storageEncrypted: true,
      multiAz: settings.databaseMultiAz,
      backupRetention: Duration.days(settings.databaseBackupDays),
      deletionProtection: settings.deletionProtection,
      autoMinorVersionUpgrade: true,
      cloudwatchLogsExports: ['postgresql'],
      removalPolicy: RemovalPolicy.SNAPSHOT,
    });
    const suppressions = [
      {
        id: 'AwsSolutions-RDS11',
        reason:
          'The port is reachable from control tasks only (security group); a non-default one adds no protection',
      },
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'Control reads the password once at task start (ECS secrets), so a rotation would cut it off until a redeploy; rotate by hand with a rolling restart',
      },
    ];
    if (!settings.databaseMultiAz) {
      suppressions.push({
        id: 'AwsSolutions-RDS3',
        reason:
          'Single-AZ by choice (databaseMultiAz=false) to keep the idle cost low; backups and snapshots remain',
      });
    }
    if (!settings.deletionProtection) {
      suppressions.push({
        id: 'AwsSolutions-RDS10',
        reason:
          'deletionProtection=false was asked for explicitly, to remove the install; a final snapshot is still taken',
      });
    }
    Validations.of(this.instance).acknowledge(...suppressions);
  }

  /**
   * What control needs to connect. node-postgres takes the parts the URL leaves out from PGHOST,
   * PGPORT, PGUSER and PGPASSWORD, so the generated secret's fields go in as they are and no
   * password ever has to be URL-encoded. `sslmode=no-verify`: RDS requires TLS, and its CA is not
   * in Node's trust store; traffic stays inside the VPC between two security groups.
   */
  controlEnvironment(): { environment: Record<string, string>; secrets: Record<string, ecs.Secret> } {
    const secret = this.instance.secret!;
    return {
      environment: { DATABASE_URL: `postgres:///${DATABASE_NAME}?sslmode=no-verify` },
      secrets: {
        PGHOST: ecs.Secret.fromSecretsManager(secret, 'host'),
        PGPORT: ecs.Secret.fromSecretsManager(secret, 'port'),
        PGUSER: ecs.Secret.fromSecretsManager(secret, 'username'),
        PGPASSWORD: ecs.Secret.fromSecretsManager(secret, 'password'),
      },
    };
  }
}
