import type { FastifyReply, FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { auditRecord, ROLLBACK_MARK } from './audit-hook.ts';

const ADMIN = { id: 'admin', scope: 'ADMIN' as const, owner: null };
const req = (method: string, url: string, params: object, body?: object, previous?: number) =>
  ({
    method,
    url,
    ip: '10.0.0.7',
    routeOptions: { url: `/v1${url}` },
    params,
    body,
    ...(previous !== undefined ? { [ROLLBACK_MARK]: previous } : {}),
  }) as unknown as FastifyRequest;
const reply = (statusCode: number) => ({ statusCode }) as FastifyReply;
const ENV = { owner: 'acme', name: 'sd', env: 'production' };

describe('auditRecord', () => {
  it('calls an activation of an earlier revision a rollback, and of a later one an activation', () => {
    const path = '/apps/:owner/:name/environments/:env/active-revision';
    const back = auditRecord(
      req('PUT', path, ENV, { revision: 2, by: 'github:octocat' }, 5),
      reply(200),
      ADMIN,
    );
    expect(back).toMatchObject({
      action: 'revision.rollback',
      on_behalf_of: 'github:octocat',
      app: 'acme/sd',
      environment: 'production',
      ip: '10.0.0.7',
    });
    const forward = auditRecord(req('PUT', path, ENV, { revision: 6 }, 5), reply(200), ADMIN);
    expect(forward?.action).toBe('revision.activate');
  });

  it('records the names of secrets set, never their values', () => {
    const r = auditRecord(
      req('PUT', '/apps/:owner/:name/environments/:env/secrets', ENV, { secrets: { B: 'v2', A: 'v1' } }),
      reply(200),
      ADMIN,
    );
    expect(r?.detail).toEqual({ names: ['A', 'B'] });
    expect(JSON.stringify(r)).not.toMatch(/v1|v2/);
  });

  it('skips reads and calls with no known caller; names unlisted routes by method and path', () => {
    expect(auditRecord(req('GET', '/keys', {}), reply(200), ADMIN)).toBeUndefined();
    expect(auditRecord(req('DELETE', '/keys/:id', { id: 'k' }), reply(401), undefined)).toBeUndefined();
    expect(auditRecord(req('POST', '/apps/:owner/:name/whatever', ENV), reply(201), ADMIN)?.action).toBe(
      'POST /apps/:owner/:name/whatever',
    );
    expect(
      auditRecord(
        req('POST', '/apps', {}, { owner: 'acme', name: 'new', auth_mode: 'public' }),
        reply(201),
        ADMIN,
      ),
    ).toMatchObject({ action: 'app.create', target: 'acme/new', app: 'acme/new', owner: 'acme' });
  });
});
