/**
 * How the app's output reaches the runner on ECS: FireLens. The runner did not start the app (it is
 * a container of its own, from any image), so it cannot read its pipes; instead the task holds a
 * log router, Fluent Bit (aws-for-fluent-bit), and the app container logs through it
 * (`logDriver: awsfirelens`). Its `http` output posts the app's records to the runner's intake on
 * the task's loopback (awsvpc: the containers of a task share one network namespace), where the
 * runner attributes and ships them as it does for an app it started (runner/src/app-output-intake.ts).
 *
 * Why FireLens rather than the runner wrapping the app's entry point: it works with any image as
 * built, needs no knowledge of the image's ENTRYPOINT/CMD (which a task definition cannot read)
 * and no shared volume; the router's own output goes to CloudWatch like the other containers'.
 *
 * The router is not essential: if Fluent Bit fails, the app's lines stop reaching `gantry logs`,
 * but a GPU task in the middle of requests is not stopped for that.
 */
import type { ContainerDefinition, LogConfiguration } from '@aws-sdk/client-ecs';
import { LOG_ROUTER } from './machine-types.ts';

export const LOG_ROUTER_CONTAINER = 'log_router';

/** AWS's Fluent Bit image for FireLens; `stable` is the tag AWS advises for production. */
export const DEFAULT_LOG_ROUTER_IMAGE = 'public.ecr.aws/aws-observability/aws-for-fluent-bit:stable';

/**
 * The loopback port of the runner's intake. Any port the app does not use; an uncommon one so that
 * an app listening on its own extra port is unlikely to take it.
 */
export const DEFAULT_APP_OUTPUT_PORT = 24_280;

/** The log router container: Fluent Bit, its own logs to CloudWatch. */
export function logRouterContainer(image: string, ownLogs: LogConfiguration): ContainerDefinition {
  return {
    name: LOG_ROUTER_CONTAINER,
    image,
    essential: false,
    memory: LOG_ROUTER.memoryMiB,
    firelensConfiguration: { type: 'fluentbit' },
    logConfiguration: ownLogs,
    // Outlives the app's shutdown so its last lines are flushed (ECS stops it after the others).
    stopTimeout: 10,
  };
}

/**
 * The app container's log configuration: Fluent Bit's `http` output to the runner's intake. The
 * options are the output's own settings; ECS adds the `Match` for this container.
 */
export function appLogsThroughRouter(port: number): LogConfiguration {
  return {
    logDriver: 'awsfirelens',
    options: {
      Name: 'http',
      Host: '127.0.0.1',
      Port: String(port),
      URI: '/',
      Format: 'json_lines',
      // The runner starts after the app, so the first lines find no intake; they are retried
      // until it is up. The task's life bounds the retries: the runner is essential.
      Retry_Limit: 'no_limits',
    },
  };
}
