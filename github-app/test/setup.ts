/**
 * One App under test: real webhook payloads (trimmed copies of @octokit/webhooks-examples in
 * fixtures/) fed to `probot.receive()`, GitHub answered by FakeGitHub, control by FakeControl.
 */
import { readFileSync } from 'node:fs';
import type { Probot } from 'probot';
import { MemoryLedger } from '../src/deployment-ledger.ts';
import { createGantryApp, type GantryApp } from '../src/index.ts';
import { FakeControl } from './fake-control.ts';
import { FakeGitHub, testProbot } from './fake-github.ts';

export const PUBLIC_URL = 'https://gantry.example.com';
export const REPOSITORY = 'Codertocat/Hello-World';

export type Payload = Record<string, unknown> & Record<'repository' | 'sender', Record<string, unknown>>;

/** A fixture, deep-copied, with `changes` merged in at the top level and one level down. */
export function fixture(name: string, changes: Record<string, unknown> = {}): Payload {
  const base = JSON.parse(
    readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8'),
  ) as Payload;
  for (const [k, v] of Object.entries(changes)) {
    const cur = base[k];
    base[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object'
        ? { ...cur, ...v }
        : v;
  }
  return base;
}

export const CONFIG = `app: hello
auth: public
machine_type: GPU-A10G
max_multiplexing: 4
scaling:
  keep_alive: 300
previews:
  enabled: true
  expire_after_hours: 24
environments:
  production:
    permission: admin
`;

export const sha = (c: string) => c.repeat(40).slice(0, 40);

export interface Harness {
  gh: FakeGitHub;
  control: FakeControl;
  ledger: MemoryLedger;
  gantry: GantryApp;
  probot: Probot;
  now: { t: number };
  receive(name: string, payload: Payload): Promise<void>;
  push(commit: string, branch?: string, message?: string): Promise<void>;
  comment(
    body: string,
    opts?: { user?: string; type?: string; name?: string; action?: string },
  ): Promise<void>;
}

/** `config: null` is a repository without `.github/gantry.yml`. */
export async function harness(config: string | null = CONFIG): Promise<Harness> {
  const gh = new FakeGitHub();
  const control = new FakeControl();
  const now = { t: Date.parse('2025-01-01T00:00:00Z') };
  const ledger = new MemoryLedger(() => now.t);
  const gantry = createGantryApp({ control, ledger, publicUrl: () => PUBLIC_URL, clock: () => now.t });
  const probot = testProbot(gh);
  await probot.load(gantry.app);
  if (config !== null) gh.setFile('.github/gantry.yml', config);
  let delivery = 0;
  const receive = (name: string, payload: Payload) =>
    probot.receive({ id: `d-${++delivery}`, name, payload } as unknown as Parameters<Probot['receive']>[0]);
  return {
    gh,
    control,
    ledger,
    gantry,
    probot,
    now,
    receive,
    async push(commit, branch = 'main', message = 'Change things') {
      if (config !== null && !gh.files.has(`${commit}:.github/gantry.yml`)) {
        gh.setFile('.github/gantry.yml', config, commit);
      }
      await receive(
        'push',
        fixture('push', {
          ref: `refs/heads/${branch}`,
          after: commit,
          head_commit: { message, id: commit },
          repository: { default_branch: 'main' },
        }),
      );
    },
    async comment(body, opts = {}) {
      const user = opts.user ?? 'Codertocat';
      const payload = fixture(opts.name ?? 'issue_comment.created', {
        action: opts.action ?? 'created',
        installation: { id: 1 },
        comment: {
          body,
          id: 492700400,
          html_url: 'https://github.com/Codertocat/Hello-World/pull/1#issuecomment-492700400',
          user: { login: user, type: opts.type ?? 'User' },
        },
        sender: { login: user, type: opts.type ?? 'User' },
      });
      (payload['issue'] as Record<string, unknown>)['pull_request'] = {
        url: 'https://api.github.com/repos/Codertocat/Hello-World/pulls/1',
      };
      await receive('issue_comment', payload);
    },
  };
}
