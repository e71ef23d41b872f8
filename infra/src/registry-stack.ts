/**
 * The registry stack: ECR repositories for the control and runner images and for each listed
 * GitHub repository's app images, and the identity GitHub Actions push with (the OIDC provider and
 * one deploy role per repository). It is deployed first, so the images exist before the service
 * that runs them, and it outlives `cdk destroy` of the main stack: images and roles stay put.
 */
import { CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import {
  appRepositoryName,
  controlRepositoryName,
  githubOidcIssuer,
  idOf,
  runnerRepositoryName,
} from './names.ts';
import type { InfraSettings } from './settings.ts';

/** What pushing an image (and reading layers back for the build cache and the skip check) needs. */
export const ECR_PUSH_ACTIONS = [
  'ecr:BatchCheckLayerAvailability',
  'ecr:BatchGetImage',
  'ecr:GetDownloadUrlForLayer',
  'ecr:DescribeImages',
  'ecr:InitiateLayerUpload',
  'ecr:UploadLayerPart',
  'ecr:CompleteLayerUpload',
  'ecr:PutImage',
];

export class RegistryStack extends Stack {
  readonly appRepositories = new Map<string, ecr.Repository>();
  readonly deployRoles = new Map<string, iam.Role>();

  constructor(scope: Construct, id: string, settings: InfraSettings, props: StackProps = {}) {
    super(scope, id, {
      description: `Gantry (${settings.name}): image repositories and the GitHub deploy identity`,
      ...props,
    });
    const { name } = settings;
    const repository = (rid: string, repositoryName: string) =>
      new ecr.Repository(this, rid, {
        repositoryName,
        imageScanOnPush: true,
        // Untagged images are left over when a tag moves (the Action's build cache); every image a
        // revision runs keeps its gantry-<hash> tag, so rollbacks never lose theirs.
        lifecycleRules: [{ tagStatus: ecr.TagStatus.UNTAGGED, maxImageAge: Duration.days(14) }],
      });
    const control = repository('ControlRepository', controlRepositoryName(name));
    const runner = repository('RunnerRepository', runnerRepositoryName(name));
    new CfnOutput(this, 'ControlRepositoryUri', { value: control.repositoryUri });
    new CfnOutput(this, 'RunnerRepositoryUri', { value: runner.repositoryUri });

    if (settings.githubRepositories.length === 0) return;
    const issuer = githubOidcIssuer(settings.gheHost);
    const provider = settings.githubOidcProviderArn
      ? iam.OidcProviderNative.fromOidcProviderArn(this, 'GitHubOidc', settings.githubOidcProviderArn)
      : new iam.OidcProviderNative(this, 'GitHubOidc', {
          url: `https://${issuer}`,
          clientIds: ['sts.amazonaws.com'],
        });

    for (const githubRepository of settings.githubRepositories) {
      const rid = idOf(githubRepository);
      const repo = repository(`App${rid}`, appRepositoryName(name, githubRepository));
      // One role per repository, trusted by that repository's workflows alone: a workflow of one
      // app can never push over another app's images.
      const role = new iam.Role(this, `Deploy${rid}`, {
        description: `GitHub Actions of ${githubRepository} push app images to ${repo.repositoryName}`,
        maxSessionDuration: Duration.hours(1),
        assumedBy: new iam.WebIdentityPrincipal(provider.oidcProviderArn, {
          StringEquals: { [`${issuer}:aud`]: 'sts.amazonaws.com' },
          StringLike: { [`${issuer}:sub`]: `repo:${githubRepository}:*` },
        }),
      });
      role.addToPolicy(
        new iam.PolicyStatement({ actions: ECR_PUSH_ACTIONS, resources: [repo.repositoryArn] }),
      );
      role.addToPolicy(new iam.PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ecr:GetAuthorizationToken has no resource-level permission; pushes are limited to this repository',
      });
      this.appRepositories.set(githubRepository, repo);
      this.deployRoles.set(githubRepository, role);
      new CfnOutput(this, `DeployRoleArn${rid}`, {
        description: `GANTRY_AWS_ROLE_ARN for ${githubRepository}`,
        value: role.roleArn,
      });
      new CfnOutput(this, `AppRepository${rid}`, {
        description: `GANTRY_ECR_REPOSITORY for ${githubRepository}`,
        value: repo.repositoryName,
      });
    }
  }
}
