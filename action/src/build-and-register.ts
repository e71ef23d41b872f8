/**
 * The Action's work, in order: hash the build inputs; reuse the image tagged with that hash when the
 * registry has it, else build and push it; read the digest back from the registry; register the
 * build with control; write the job summary.
 */
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { buildCommands, type CacheUse, cacheCounter, chooseBuilder, type Probe } from './builder.ts';
import { contentHash } from './content-hash.ts';
import type { Inputs } from './inputs.ts';
import { type RegisteredBuild, registerBuild } from './register.ts';
import { RegistryClient } from './registry.ts';
import { commandWorks, runCommand } from './run-command.ts';
import { summaryMarkdown } from './summary.ts';

export interface Outputs {
  image: string;
  digest: string;
  'build-id': string;
  skipped: string;
}

/** Everything outside the Action's own logic, passed in (`@actions/core` in production). */
export interface ActionIO {
  info(message: string): void;
  group<T>(name: string, fn: () => Promise<T>): Promise<T>;
  setOutput(name: keyof Outputs, value: string): void;
  getIDToken(audience: string): Promise<string>;
  writeSummary(markdown: string): Promise<void>;
  env: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
  probe?: Probe;
}

/** A failure the user can fix; the message says how. */
export class ActionError extends Error {
  override name = 'ActionError';
}

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

async function resolveFiles(inputs: Inputs): Promise<{ contextDir: string; containerfile: string }> {
  const contextDir = path.resolve(inputs.github.workspace, inputs.context);
  if (!(await stat(contextDir).catch(() => undefined))?.isDirectory()) {
    throw new ActionError(
      `The build context "${inputs.context}" is not a folder in the repository: check the context input.`,
    );
  }
  if (inputs.containerfile) {
    const file = path.resolve(inputs.github.workspace, inputs.containerfile);
    if (!(await exists(file))) {
      throw new ActionError(
        `The containerfile "${inputs.containerfile}" does not exist: check the containerfile input.`,
      );
    }
    return { contextDir, containerfile: file };
  }
  for (const name of ['Containerfile', 'Dockerfile']) {
    const file = path.join(contextDir, name);
    if (await exists(file)) return { contextDir, containerfile: file };
  }
  throw new ActionError(
    `Neither Containerfile nor Dockerfile is in the build context "${inputs.context}": add one or set the containerfile input.`,
  );
}

/** Fails before any build when registering would be impossible anyway. */
function checkCredentials(inputs: Inputs, io: ActionIO): void {
  if (inputs.deployToken || io.env['ACTIONS_ID_TOKEN_REQUEST_URL']) return;
  throw new ActionError(
    'No GitHub OIDC token is available: give the job `permissions: id-token: write`, or pass a deploy-token.',
  );
}

/** The Authorization header; the OIDC token is asked for only now, as it lives minutes, not a build. */
async function authorization(inputs: Inputs, io: ActionIO): Promise<string> {
  if (inputs.deployToken) return `Key ${inputs.deployToken}`;
  try {
    return `Bearer ${await io.getIDToken(inputs.audience)}`;
  } catch (err) {
    throw new ActionError(
      `Could not get a GitHub OIDC token (${(err as Error).message}): check \`permissions: id-token: write\`.`,
    );
  }
}

export async function buildAndRegister(inputs: Inputs, io: ActionIO): Promise<void> {
  checkCredentials(inputs, io);
  const { contextDir, containerfile } = await resolveFiles(inputs);
  const registry = new RegistryClient({
    insecure: inputs.registryInsecure,
    env: io.env,
    ...(io.fetch ? { fetch: io.fetch } : {}),
  });

  const hashed = await contentHash({ contextDir, containerfile, buildArgs: inputs.buildArgs });
  const tagName = `gantry-${hashed.hash}`;
  const tag = `${inputs.imageRepository}:${tagName}`;
  io.info(
    `content hash ${hashed.hash} over ${hashed.files} files of ${path.relative(inputs.github.workspace, contextDir) || '.'}`,
  );

  let digest = await registry.tagDigest(inputs.imageRepository, tagName);
  const skipped = digest !== undefined;
  let builderName: string | undefined;
  let buildSeconds: number | undefined;
  let cache: CacheUse | undefined;
  if (skipped) {
    io.info(`${tag} is already in the registry (${digest}): skipping the build`);
  } else {
    const builder = await chooseBuilder(
      inputs.builder,
      io.probe ?? ((cmd, args) => commandWorks(cmd, args, io.env)),
    );
    builderName = builder;
    const counter = cacheCounter(builder);
    const started = performance.now();
    const commands = buildCommands({
      builder,
      contextDir,
      containerfile,
      tag,
      buildArgs: inputs.buildArgs,
      cacheRef: inputs.cacheRef,
      insecure: inputs.registryInsecure,
    });
    await io.group(`Build ${tag} with ${builder}`, async () => {
      for (const c of commands) {
        io.info(`$ ${c.cmd} ${c.args.join(' ')}`);
        const r = await runCommand(c.cmd, c.args, { env: io.env, onLine: counter.onLine });
        if (r.code !== 0) {
          throw new ActionError(
            `\`${c.cmd} ${c.args[0]}\` failed with exit code ${r.code}; the build log above says why. Last lines:\n${r.tail.join('\n')}`,
          );
        }
      }
    });
    buildSeconds = (performance.now() - started) / 1000;
    cache = counter.use();
    digest = await registry.tagDigest(inputs.imageRepository, tagName);
    if (!digest) {
      throw new ActionError(
        `${builder} reported a push, but the registry has no ${tag}: check the image-repository input.`,
      );
    }
    io.info(
      `built and pushed ${tag} in ${buildSeconds.toFixed(1)} s (${cache.cached} of ${cache.steps} steps from cache)`,
    );
  }

  const image = `${inputs.imageRepository}@${digest}`;
  io.setOutput('image', image);
  io.setOutput('digest', digest!);
  io.setOutput('skipped', String(skipped));
  const sizeBytes = await registry.imageSize(inputs.imageRepository, digest!).catch(() => undefined);

  const registered: RegisteredBuild = await registerBuild(
    {
      repository: inputs.github.repository,
      commit_sha: inputs.github.sha,
      ...(inputs.github.ref ? { ref: inputs.github.ref } : {}),
      image,
      digest: digest!,
      content_hash: hashed.hash,
    },
    {
      controlUrl: inputs.controlUrl,
      authorization: await authorization(inputs, io),
      ...(io.fetch ? { fetch: io.fetch } : {}),
    },
  );
  io.setOutput('build-id', registered.id);
  io.info(
    `registered with Gantry control as build ${registered.id}${registered.existed ? ' (already registered)' : ''}`,
  );

  await io.writeSummary(
    summaryMarkdown({
      image,
      digest: digest!,
      tag,
      sizeBytes,
      contentHash: hashed.hash,
      files: hashed.files,
      skipped,
      builder: builderName,
      buildSeconds,
      cache,
      buildId: registered.id,
      controlAnswer: registered.answer,
      controlExisted: registered.existed,
    }),
  );
}
