/**
 * The top of the Action: outputs get their defaults, inputs are parsed once, the work runs, and any
 * failure becomes one `setFailed` with a message that says what to do.
 */
import { appendFile } from 'node:fs/promises';
import * as core from '@actions/core';
import { buildAndRegister, type Outputs } from './build-and-register.ts';
import { parseInputs } from './inputs.ts';

const DEFAULT_OUTPUTS: Outputs = { image: '', digest: '', 'build-id': '', skipped: 'false' };

/** Errors whose message is already meant for the user; anything else also shows its stack in debug. */
const USER_ERRORS = [
  'ActionError',
  'InputError',
  'RegistryError',
  'RegistrationError',
  'BuilderUnavailableError',
];

export async function run(): Promise<void> {
  for (const [name, value] of Object.entries(DEFAULT_OUTPUTS)) core.setOutput(name, value);
  try {
    const inputs = parseInputs((name) => core.getInput(name), process.env);
    if (inputs.deployToken) core.setSecret(inputs.deployToken);
    await buildAndRegister(inputs, {
      info: (m) => core.info(m),
      group: (name, fn) => core.group(name, fn),
      setOutput: (name, value) => core.setOutput(name, value),
      getIDToken: (audience) => core.getIDToken(audience),
      // Appended directly rather than through core.summary, which remembers the first file it wrote.
      writeSummary: async (md) => {
        const file = process.env['GITHUB_STEP_SUMMARY'];
        if (file) await appendFile(file, md);
      },
      env: process.env,
    });
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    if (!USER_ERRORS.includes(e.name) && e.stack) core.debug(e.stack);
    core.setFailed(USER_ERRORS.includes(e.name) ? e.message : `${e.name}: ${e.message}`);
  }
}
