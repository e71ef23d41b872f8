/**
 * Control's own keys, generated into Secrets Manager by the install and given to every control
 * task as the same values: the admin key (`gantry login` uses it), the secrets master key, the
 * webhook signing key, and a slot for the GitHub App's credentials that `npm run github-app`
 * (or the README's command) fills after the App is registered. All are kept when the stack is
 * destroyed: a database restored from its snapshot is unreadable without the master key.
 */
import { CustomResource, Duration, RemovalPolicy, SecretValue, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { KEY_GENERATOR_SOURCE } from './key-generator-source.ts';

/** The fields of the GitHub App secret: control's own setting names. */
export const GITHUB_APP_FIELDS = ['APP_ID', 'PRIVATE_KEY', 'WEBHOOK_SECRET'] as const;

export class ControlKeys extends Construct {
  readonly adminKey: secretsmanager.Secret;
  readonly secretsKey: secretsmanager.Secret;
  readonly webhookKey: secretsmanager.Secret;
  readonly githubApp: secretsmanager.Secret;
  /** Done once the generated keys are in place; control's service waits for it. */
  readonly ready: CustomResource;

  constructor(scope: Construct, id: string, name: string) {
    super(scope, id);
    const secret = (sid: string, description: string, props: secretsmanager.SecretProps = {}) =>
      new secretsmanager.Secret(this, sid, {
        description: `Gantry (${name}): ${description}`,
        removalPolicy: RemovalPolicy.RETAIN,
        ...props,
      });
    this.adminKey = secret('AdminKey', 'admin key (GANTRY_ADMIN_KEY)', {
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });
    this.secretsKey = secret('SecretsKey', 'master key for secrets at rest (GANTRY_SECRETS_KEY)');
    this.webhookKey = secret('WebhookKey', 'Ed25519 webhook signing key (GANTRY_WEBHOOK_PRIVATE_KEY)');
    // Empty until the App is registered: an empty field is an unset setting for control, and ECS
    // needs every field to exist at task start.
    this.githubApp = secret('GitHubApp', 'GitHub App credentials (APP_ID, PRIVATE_KEY, WEBHOOK_SECRET)', {
      secretObjectValue: Object.fromEntries(
        GITHUB_APP_FIELDS.map((f) => [f, SecretValue.unsafePlainText('')]),
      ),
    });

    const logGroup = new logs.LogGroup(this, 'GeneratorLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(this, 'GeneratorRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Fills the generated control keys into their secrets',
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
        resources: [this.secretsKey.secretArn, this.webhookKey.secretArn],
      }),
    );
    const generator = new lambda.Function(this, 'Generator', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline(KEY_GENERATOR_SOURCE),
      role,
      logGroup,
      timeout: Duration.minutes(1),
      description: 'Gantry: generate control keys into Secrets Manager',
    });
    this.ready = new CustomResource(this, 'Keys', {
      serviceToken: generator.functionArn,
      properties: {
        Secrets: [
          { SecretId: this.secretsKey.secretArn, Kind: 'aes-256-base64' },
          { SecretId: this.webhookKey.secretArn, Kind: 'ed25519-pem' },
        ],
      },
    });
    // The role's policy must exist before CloudFormation invokes the function.
    this.ready.node.addDependency(role);

    const rotation = {
      id: 'AwsSolutions-SMG4',
      reason:
        'Control reads these once at task start; rotating the master key needs GANTRY_SECRETS_OLD_KEYS and a restart, the admin key a new key first: both are manual procedures in the README',
    };
    for (const s of [this.adminKey, this.secretsKey, this.webhookKey, this.githubApp]) {
      Validations.of(s).acknowledge(...[rotation]);
    }
    Validations.of(this.githubApp).acknowledge(
      ...[
        {
          id: 'AwsSolutions-SMG4',
          reason: 'GitHub issues the App credentials; they change only when the App is registered again',
        },
      ],
    );
  }

  /** Control's settings that come from these secrets. */
  controlSecrets(): Record<string, ecs.Secret> {
    const out: Record<string, ecs.Secret> = {
      GANTRY_ADMIN_KEY: ecs.Secret.fromSecretsManager(this.adminKey),
      GANTRY_SECRETS_KEY: ecs.Secret.fromSecretsManager(this.secretsKey),
      GANTRY_WEBHOOK_PRIVATE_KEY: ecs.Secret.fromSecretsManager(this.webhookKey),
    };
    for (const field of GITHUB_APP_FIELDS) out[field] = ecs.Secret.fromSecretsManager(this.githubApp, field);
    return out;
  }
}
