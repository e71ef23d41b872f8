/**
 * The web console in a real browser: Debian's Chromium driven by playwright-core against a real
 * control (process compute, the hello example). Signs in, watches a runner appear after a request,
 * opens the request's logs, rolls back and sees the active revision change, calls the endpoint
 * from the playground; a wrong key gets a clear message, an API key sees no management buttons,
 * and the session cookie alone cannot change anything. Each main page is kept as a screenshot in
 * test/artifacts/console/ (gitignored).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELLO_COMMAND, REPO_ROOT, startTestControl, type TestControl } from '../support/control.ts';

const CHROMIUM = process.env.GANTRY_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = path.join(REPO_ROOT, 'test/artifacts/console');
/** Long enough for a cold start on a loaded two-core machine. */
const SLOW = 60_000;
const ENV = '#/apps/test/hello/production';

let control: TestControl;
let browser: Browser;
let admin: BrowserContext;
let page: Page;
let apiKey: string;

async function shot(p: Page, name: string): Promise<void> {
  await p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(p: Page, key: string): Promise<void> {
  await p.goto(control.url);
  await p.getByLabel('API or admin key').fill(key);
  await p.getByRole('button', { name: 'Sign in' }).click();
}

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  control = await startTestControl({ drainGraceSeconds: 5 });
  // Two revisions of the same app, so there is one to roll back to; keep_alive holds the runner
  // on the page while the test looks at it.
  await control.deploy({ name: 'hello', scaling: { keep_alive: 120 } });
  const second = await control.admin('/v1/apps/test/hello/environments/production/revisions', {
    body: {
      command: HELLO_COMMAND,
      cwd: REPO_ROOT,
      message: 'second: same app, new revision',
      activate: true,
      strategy: 'recreate',
    },
  });
  expect(second.status).toBe(201);
  const key = await control.admin('/v1/keys', { body: { scope: 'API', owner: 'test', description: 'web' } });
  apiKey = ((await key.json()) as { key: string }).key;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  admin = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  page = await admin.newPage();
  // Control, two revisions and a browser: minutes, not seconds, when both cores are busy.
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await control?.close();
});

describe('the web console', () => {
  it('answers a wrong key with a clear message and stays signed out', async () => {
    const p = await admin.newPage();
    await signIn(p, 'gk_not_a_key');
    const alert = p.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toContain('Gantry does not know this key');
    await shot(p, 'sign-in-wrong-key');
    await p.close();
  });

  it('signs in with the admin key and lists the app with its active revision and health', async () => {
    await signIn(page, control.adminKey);
    const row = page.getByRole('row', { name: /test\/hello/ });
    await row.waitFor();
    expect(await row.textContent()).toContain('#2 second');
    expect(await page.getByTestId('who').textContent()).toBe('admin key');
    await shot(page, 'apps');
  });

  it('shows a runner appear, live, after a request', async () => {
    await page.goto(`${control.url}/${ENV}`);
    await page.getByText('No runners: the environment is scaled to zero').waitFor();
    await page.getByRole('status').filter({ hasText: 'live' }).waitFor();
    const res = await fetch(`${control.url}/run/test/hello`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Ada' }),
    });
    expect(res.status).toBe(200);
    // No reload: the page follows the environment's event stream.
    await page
      .getByTestId('runner-row')
      .filter({ hasText: /IDLE|RUNNING/ })
      .first()
      .waitFor({ timeout: SLOW });
    expect(await page.getByTestId('live-runners').textContent()).toBe('1');
    await shot(page, 'overview');
  });

  it("opens a request's input, result and logs", async () => {
    await page
      .getByRole('navigation', { name: 'Environment' })
      .getByRole('link', { name: 'Requests' })
      .click();
    const first = page.getByRole('table').getByRole('link').first();
    await first.click();
    const detail = page.locator('section.detail');
    await detail.getByText('Hello, Ada!').waitFor();
    expect(await detail.getByRole('region', { name: 'Input' }).textContent()).toContain('"name": "Ada"');
    const logs = detail.getByRole('log', { name: 'Request logs' });
    await logs.waitFor();
    expect(await logs.textContent()).toContain('greeting Ada');
    await shot(page, 'request');
  });

  it('rolls back from the revisions page and the active revision changes', async () => {
    await page.goto(`${control.url}/${ENV}/revisions`);
    await page.getByRole('button', { name: 'Roll back to #1' }).click();
    await page.getByLabel('Why').fill('checking the console');
    await page.getByRole('button', { name: 'Confirm switch to #1' }).click();
    await page.getByRole('status').filter({ hasText: 'Rolling production to revision #1' }).waitFor();
    // Rolling: a runner of #1 starts, and the switch happens once it is healthy.
    await page.getByRole('row', { name: /#1 active/ }).waitFor({ timeout: SLOW });
    await shot(page, 'revisions');
    await page.goto(`${control.url}/${ENV}`);
    await page.getByTestId('active-revision').filter({ hasText: '#1' }).waitFor();
    await page.goto(`${control.url}/${ENV}/rollouts`);
    const rollout = page.getByRole('row', { name: /#2 → #1/ });
    await rollout.waitFor();
    expect(await rollout.textContent()).toMatch(/completed.*console.*checking the console/);
    await shot(page, 'rollouts');
  });

  it('lists what happened as events, app setup output as runner log lines', async () => {
    await page.goto(`${control.url}/${ENV}/events`);
    await page.getByText(/rollout #2 → #1 completed/).waitFor();
    expect(await page.locator('ol.events').textContent()).toMatch(/ready after/);
    await shot(page, 'events');
    await page.goto(`${control.url}/${ENV}/logs`);
    const logs = page.getByRole('log', { name: 'Environment logs' });
    await logs.waitFor();
    // The hello app prints this in setup(), outside any request.
    expect(await logs.textContent()).toMatch(/runner [0-9a-f]{8} user loading model/);
    await shot(page, 'logs');
  });

  it('calls the endpoint from the playground', async () => {
    await page.goto(`${control.url}/${ENV}/playground`);
    await page.getByLabel('Input (JSON)').fill('{"name": "Grace"}');
    await page.getByRole('button', { name: 'Run' }).click();
    await page.getByRole('region', { name: 'Playground result' }).getByText('Hello, Grace!').waitFor();
    await shot(page, 'playground');
  });

  it('shows cost in runner-seconds by day and machine type', async () => {
    await page.goto(`${control.url}/#/cost`);
    await page.getByRole('heading', { name: 'By day and machine type' }).waitFor();
    expect(await page.getByRole('table').textContent()).toContain('CPU');
    await shot(page, 'cost');
  });

  it('refuses a change made with the session cookie but without its CSRF token', async () => {
    const status = await page.evaluate(async () => {
      const r = await fetch('/v1/apps/test/hello/environments/production/active-revision', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ revision: 2 }),
      });
      return { status: r.status, code: ((await r.json()) as { code: string }).code };
    });
    expect(status).toEqual({ status: 403, code: 'GANTRY_ERR_CSRF' });
  });

  it('shows an API key the endpoints it may call and no management buttons', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const p = await ctx.newPage();
    await signIn(p, apiKey);
    await p.getByRole('heading', { name: 'Endpoints you can call' }).waitFor();
    expect(await p.getByTestId('who').textContent()).toBe('API key of test');
    expect(await p.getByRole('link', { name: 'test/hello' }).count()).toBe(1);
    expect(await p.getByRole('link', { name: 'Cost' }).count()).toBe(0);
    await shot(p, 'api-key');
    // Even on an environment's page, it gets the playground and no rollback.
    await p.goto(`${control.url}/${ENV}/revisions`);
    await p.getByText('This is an API key').waitFor();
    expect(await p.getByRole('button', { name: /Roll back|Make .* active/ }).count()).toBe(0);
    await ctx.close();
  });
});
