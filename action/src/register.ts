/**
 * Registers the build with control (`POST /v1/builds`), authenticated by the workflow's GitHub OIDC
 * token, or by a deploy token when one is given.
 */
import {
  ControlApiAnswerError,
  ControlApiClient,
  ControlApiError,
  ControlApiUnreachableError,
} from '../../contract/src/control-client.ts';
import type { BuildView, RegisterBuild } from '../../contract/src/management-api.ts';

export type BuildRegistration = RegisterBuild & { content_hash: string };

export interface RegisteredBuild {
  id: string;
  /** True when control already held this build (a re-run). */
  existed: boolean;
  /** Control's answer, for the job summary. */
  answer: BuildView;
}

export interface RegisterOptions {
  controlUrl: string;
  /** `Key <token>` or `Bearer <oidc token>`. */
  authorization: string;
  fetch?: typeof fetch;
}

export class RegistrationError extends Error {
  override name = 'RegistrationError';
}

/** What to do about each way control can refuse, in words for the job log. */
const ADVICE: Record<number, string> = {
  401: 'give the workflow `permissions: id-token: write` (and check the audience input matches GANTRY_OIDC_AUDIENCE), or pass a valid deploy-token',
  403: "the token's repository is not the one being registered: run the Action in the repository it builds",
};

export async function registerBuild(build: BuildRegistration, o: RegisterOptions): Promise<RegisteredBuild> {
  const api = new ControlApiClient({
    url: o.controlUrl,
    authorization: o.authorization,
    ...(o.fetch ? { fetch: o.fetch } : {}),
  });
  try {
    const { build: answer, created } = await api.registerBuild(build);
    return { id: answer.id, existed: !created, answer };
  } catch (err) {
    if (err instanceof ControlApiUnreachableError) {
      throw new RegistrationError(
        `Cannot reach Gantry control at ${o.controlUrl} (${err.reason}): check the control-url input.`,
      );
    }
    if (err instanceof ControlApiError) {
      const code = err.code ? ` ${err.code}` : '';
      const advice = ADVICE[err.status] ? ` To fix: ${ADVICE[err.status]}.` : '';
      throw new RegistrationError(
        `Gantry control refused the build (${err.status}${code}): ${err.message}${advice}`,
      );
    }
    if (err instanceof ControlApiAnswerError) {
      throw new RegistrationError(`${err.message}: is ${o.controlUrl} Gantry, of the Action's version?`);
    }
    throw err;
  }
}
