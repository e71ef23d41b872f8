/** Help text: the command list, a group's commands, and one command with its options and examples. */
import { type Command, GLOBAL_OPTIONS, type OptionSpec } from './command.ts';

const EXIT_CODES = `Exit codes: 0 ok, 1 failure, 2 usage or invalid input, 3 not found, 4 key missing or not allowed,
5 refused (exists, active, failed, protected).
`;

export function mainHelp(commands: Command[]): string {
  const width = Math.max(...commands.map((c) => c.words.join(' ').length));
  return `gantry: manage Gantry apps, environments, secrets, keys and runners.

Usage: gantry <command> [arguments] [--json] [--url URL] [--key KEY]

Commands:
${commands.map((c) => `  ${c.words.join(' ').padEnd(width)}  ${c.summary}`).join('\n')}

Run \`gantry <command> --help\` for its options and an example.
${EXIT_CODES}`;
}

export function groupHelp(group: string, commands: Command[]): string {
  const mine = commands.filter((c) => c.words[0] === group);
  const width = Math.max(...mine.map((c) => c.words.join(' ').length));
  return `Usage: gantry ${group} <${mine.map((c) => c.words[1]).join('|')}> …

${mine.map((c) => `  ${c.words.join(' ').padEnd(width)}  ${c.summary}`).join('\n')}

Run \`gantry ${group} <command> --help\` for its options and an example.
`;
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  const shown = Object.entries(options).map(([k, o]) => [
    `${o.short ? `-${o.short}, ` : ''}--${k}${o.type === 'string' ? ` <${o.value ?? k}>` : ''}`,
    o.help,
  ]);
  const width = Math.max(...shown.map(([a]) => a!.length));
  return shown.map(([a, b]) => `  ${a!.padEnd(width)}  ${b}`);
}

export function commandHelp(c: Command): string {
  return `${c.summary}

Usage: gantry ${c.words.join(' ')} ${c.usage}

Options:
${optionLines({ ...c.options, ...GLOBAL_OPTIONS }).join('\n')}

Example${c.examples.length > 1 ? 's' : ''}:
${c.examples.map((e) => `  $ ${e}`).join('\n')}

${EXIT_CODES}`;
}
