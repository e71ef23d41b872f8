/**
 * The names an install gives, in one place: both stacks, control's settings and the IAM scopes
 * derive from these, so a queue control creates is always inside the prefix its role may touch.
 */

/** ECR repository of the control image. */
export const controlRepositoryName = (name: string) => `${name}/control`;
/** ECR repository of the runner image. */
export const runnerRepositoryName = (name: string) => `${name}/runner`;
/** ECR repository of one GitHub repository's app images (ECR names are lower-case). */
export const appRepositoryName = (name: string, githubRepository: string) =>
  `${name}/apps/${githubRepository.toLowerCase()}`;

/** Capacity provider of a machine type; ECS refuses names starting with aws, ecs or fargate. */
export const capacityProviderName = (name: string, machineType: string) =>
  `${name}-${machineType.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;

/** CloudWatch Logs groups: control's own, and the one control's ECS driver sends runners to. */
export const controlLogGroupName = (name: string) => `/${name}/control`;
export const runnerLogGroupName = (name: string) => `/${name}/runners`;

/**
 * Task definition families control registers all start with `gantry-` (control/src/compute's
 * familyOf), whatever the install's name; RunTask is allowed on these only.
 */
export const TASK_FAMILY_PREFIX = 'gantry-';

/** The private DNS name runners reach control at (Cloud Map, one A record per control task). */
export const controlDnsNamespace = (name: string) => `${name}.internal`;
export const CONTROL_PORT = 8080;

/** GitHub's OIDC issuer for Actions, or a GitHub Enterprise Server's. */
export const githubOidcIssuer = (gheHost?: string) =>
  gheHost ? `${gheHost}/_services/token` : 'token.actions.githubusercontent.com';

/** A construct id from a repository name: `acme/sd-turbo` → `AcmeSdTurbo`. */
export const idOf = (text: string) =>
  text
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== '')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
