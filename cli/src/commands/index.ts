/** Every `gantry` command, in the order `gantry --help` lists them. */
import type { Command } from '../command.ts';
import { appsCommands } from './apps.ts';
import { auditCommand } from './audit.ts';
import { deployCommand } from './deploy.ts';
import { environmentCommands } from './environments.ts';
import { eventsCommand } from './events.ts';
import { keyCommands } from './keys.ts';
import { loginCommand } from './login.ts';
import { logsCommand } from './logs.ts';
import { queueCommands } from './queue.ts';
import { revisionCommands } from './revisions.ts';
import { rolloutCommand } from './rollout.ts';
import { runCommand } from './run.ts';
import { runnerCommands } from './runners.ts';
import { scaleCommand } from './scale.ts';
import { secretCommands } from './secrets.ts';

export const COMMANDS: Command[] = [
  loginCommand,
  ...appsCommands,
  deployCommand,
  ...revisionCommands,
  rolloutCommand,
  scaleCommand,
  ...runnerCommands,
  logsCommand,
  eventsCommand,
  runCommand,
  ...secretCommands,
  ...environmentCommands,
  ...keyCommands,
  auditCommand,
  ...queueCommands,
];
