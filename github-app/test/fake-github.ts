/**
 * GitHub's REST API answered in process, as an injected fetch for Probot's Octokit: no network,
 * no global interception. It keeps just enough state (files, deployments, comments, permissions)
 * for the App's flows, and records every call so tests assert the exact requests and bodies.
 */
import { generateKeyPairSync } from 'node:crypto';
import { Probot, ProbotOctokit } from 'probot';

export interface Call {
  method: string;
  path: string;
  query: Record<string, string>;
  body: Record<string, unknown> | undefined;
}

export interface FakePull {
  number: number;
  title: string;
  user: { login: string };
  merged_at: string | null;
  merge_commit_sha: string | null;
  html_url: string;
  head: { sha: string; ref: string };
}

/** Generated once per test file: Probot signs its app JWTs with it. */
export const PRIVATE_KEY = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ type: 'pkcs1', format: 'pem' })
  .toString();
export const WEBHOOK_SECRET = 'test-webhook-secret';

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

export class FakeGitHub {
  calls: Call[] = [];
  /** `<ref or "default">:<path>` → file text. */
  files = new Map<string, string>();
  /** login → role name (`admin`, `write`, `read`, …). */
  permissions = new Map<string, string>();
  /** commit → pull requests associated with it. */
  pullsForCommit = new Map<string, FakePull[]>();
  pulls = new Map<number, FakePull>();
  comments: { id: number; issue: number; body: string }[] = [];
  /** Repositories (`owner/name`) the App is not installed on; it is on every other one. */
  notInstalled = new Set<string>();
  private nextId = 100;

  setFile(path: string, text: string, ref = 'default'): void {
    this.files.set(`${ref}:${path}`, text);
  }

  /** Calls other than the installation token exchange, as `METHOD path`. */
  routes(): string[] {
    return this.calls.filter((c) => !c.path.endsWith('/access_tokens')).map((c) => `${c.method} ${c.path}`);
  }

  /** Bodies of the calls matching `METHOD path-regexp`. */
  bodies(method: string, path: RegExp): Record<string, unknown>[] {
    return this.calls.filter((c) => c.method === method && path.test(c.path)).map((c) => c.body ?? {});
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const method = (init?.method ?? 'GET').toUpperCase();
    const body =
      typeof init?.body === 'string' && init.body !== ''
        ? (JSON.parse(init.body) as Record<string, unknown>)
        : undefined;
    const call: Call = { method, path: url.pathname, query: Object.fromEntries(url.searchParams), body };
    this.calls.push(call);
    return this.answer(call);
  };

  private answer(c: Call): Response {
    const p = c.path;
    let m: RegExpExecArray | null = null;
    const at = (re: RegExp) => {
      m = re.exec(p);
      return m !== null;
    };
    if (c.method === 'POST' && /^\/app\/installations\/\d+\/access_tokens$/.test(p)) {
      return json(201, {
        token: 'ghs_test',
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
        permissions: {},
        repository_selection: 'all',
      });
    }
    if (c.method === 'GET' && at(/^\/repos\/([^/]+\/[^/]+)\/installation$/)) {
      if (this.notInstalled.has(decodeURIComponent(m![1]!))) return json(404, { message: 'Not Found' });
      return json(200, { id: 1, account: { login: m![1]!.split('/')[0] } });
    }
    if (c.method === 'GET' && at(/^\/repos\/[^/]+\/[^/]+\/contents\/(.+)$/)) {
      const text = this.files.get(`${c.query['ref'] ?? 'default'}:${decodeURIComponent(m![1]!)}`);
      if (text === undefined) return json(404, { message: 'Not Found' });
      return json(200, { type: 'file', encoding: 'base64', content: Buffer.from(text).toString('base64') });
    }
    if (c.method === 'POST' && /^\/repos\/[^/]+\/[^/]+\/deployments$/.test(p)) {
      return json(201, { id: this.nextId++, ...c.body });
    }
    if (c.method === 'POST' && /^\/repos\/[^/]+\/[^/]+\/deployments\/\d+\/statuses$/.test(p)) {
      return json(201, { id: this.nextId++, ...c.body });
    }
    if (c.method === 'POST' && /^\/repos\/[^/]+\/[^/]+\/check-runs$/.test(p)) {
      return json(201, { id: this.nextId++ });
    }
    if (c.method === 'GET' && at(/^\/repos\/[^/]+\/[^/]+\/commits\/([^/]+)\/pulls$/)) {
      return json(200, this.pullsForCommit.get(m![1]!) ?? []);
    }
    if (c.method === 'GET' && at(/^\/repos\/[^/]+\/[^/]+\/pulls\/(\d+)$/)) {
      const pull = this.pulls.get(Number(m![1]));
      return pull ? json(200, pull) : json(404, { message: 'Not Found' });
    }
    if (at(/^\/repos\/[^/]+\/[^/]+\/issues\/(\d+)\/comments$/)) {
      const issue = Number(m![1]);
      if (c.method === 'GET') {
        return json(
          200,
          this.comments.filter((x) => x.issue === issue).map((x) => ({ id: x.id, body: x.body })),
        );
      }
      const comment = { id: this.nextId++, issue, body: String(c.body?.['body']) };
      this.comments.push(comment);
      return json(201, comment);
    }
    if (c.method === 'PATCH' && at(/^\/repos\/[^/]+\/[^/]+\/issues\/comments\/(\d+)$/)) {
      const comment = this.comments.find((x) => x.id === Number(m![1]));
      if (!comment) return json(404, { message: 'Not Found' });
      comment.body = String(c.body?.['body']);
      return json(200, comment);
    }
    if (c.method === 'POST' && /^\/repos\/[^/]+\/[^/]+\/issues\/comments\/\d+\/reactions$/.test(p)) {
      return json(201, { id: this.nextId++, content: c.body?.['content'] });
    }
    if (c.method === 'GET' && at(/^\/repos\/[^/]+\/[^/]+\/collaborators\/([^/]+)\/permission$/)) {
      const role = this.permissions.get(decodeURIComponent(m![1]!)) ?? 'read';
      const permission = role === 'maintain' ? 'write' : role === 'triage' ? 'read' : role;
      return json(200, { permission, role_name: role, user: { login: m![1] } });
    }
    return json(404, { message: `FakeGitHub has no route ${c.method} ${p}` });
  }
}

/** A Probot whose Octokit talks to `gh`. */
export function testProbot(gh: FakeGitHub): Probot {
  return new Probot({
    appId: 1,
    privateKey: PRIVATE_KEY,
    secret: WEBHOOK_SECRET,
    logLevel: 'fatal',
    request: { fetch: gh.fetch },
    // The throttling plugin spaces writes a second apart; tests need no rate limiting.
    Octokit: ProbotOctokit.defaults((o: { throttle?: object }) => ({
      ...o,
      throttle: { ...o.throttle, enabled: false },
    })),
  });
}
