/**
 * Registers the build with control (`POST /v1/builds`), authenticated by the workflow's GitHub OIDC
 * token, or by a deploy token when one is given.
 */

export interface BuildRegistration {
  repository: string;
  commit_sha: string;
  ref?: string;
  image: string;
  digest: string;
  content_hash: string;
}

export interface RegisteredBuild {
  id: string;
  /** True when control already held this build (a re-run). */
  existed: boolean;
  /** Control's answer, for the job summary. */
  answer: Record<string, unknown>;
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
  const url = `${o.controlUrl}/v1/builds`;
  let res: Response;
  try {
    res = await (o.fetch ?? globalThis.fetch)(url, {
      method: 'POST',
      headers: { authorization: o.authorization, 'content-type': 'application/json' },
      body: JSON.stringify(build),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new RegistrationError(
      `Cannot reach Gantry control at ${o.controlUrl} (${(err as Error).message}): check the control-url input.`,
    );
  }
  const text = await res.text();
  let answer: Record<string, unknown> = {};
  try {
    answer = JSON.parse(text) as Record<string, unknown>;
  } catch {
    answer = { body: text.slice(0, 500) };
  }
  if (!res.ok) {
    const said = typeof answer['message'] === 'string' ? answer['message'] : text.slice(0, 300);
    const code = typeof answer['code'] === 'string' ? ` ${answer['code']}` : '';
    const advice = ADVICE[res.status] ? ` To fix: ${ADVICE[res.status]}.` : '';
    throw new RegistrationError(`Gantry control refused the build (${res.status}${code}): ${said}${advice}`);
  }
  if (typeof answer['id'] !== 'string') {
    throw new RegistrationError(
      `Gantry control answered ${res.status} without a build id: is ${o.controlUrl} Gantry?`,
    );
  }
  return { id: answer['id'], existed: res.status === 200, answer };
}
