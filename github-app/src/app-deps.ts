/** What every handler of the App is given: nothing is reached through globals. */
import type { Logger, ProbotOctokit } from 'probot';
import type { ControlClient } from './control-client.ts';
import type { DeploymentLedger } from './deployment-ledger.ts';
import type { KeyedLock } from './keyed-lock.ts';

/** An Octokit authenticated as one installation of the App. */
export type Octokit = ProbotOctokit;

export interface Repo {
  owner: string;
  repo: string;
}

export interface GantryDeps {
  control: ControlClient;
  ledger: DeploymentLedger;
  /** Control's URL as callers reach it, for `environment_url` and comments. */
  publicUrl: () => string;
  clock: () => number;
  log: Logger;
  locks: KeyedLock;
}
