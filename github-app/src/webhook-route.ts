/**
 * GitHub's webhook deliveries as a fastify route, for the App mounted inside control. The
 * signature (`x-hub-signature-256`, HMAC-SHA256 with the webhook secret) is checked on the raw
 * body exactly as GitHub sent it, so the route lives in its own plugin scope whose content-type
 * parser keeps the body as a string; control's JSON parser never sees it. A delivery without a
 * valid signature gets 401 and reaches no handler; a signed one whose body is not a JSON object gets
 * 400; a delivery id seen before is answered 200 and handled no more (a replay).
 */
import type { FastifyInstance } from 'fastify';
import type { Probot } from 'probot';
import { GantryError } from '../../contract/src/errors.ts';
import type { DeliveryLog } from './delivery-log.ts';

/** GitHub gives up on a delivery after 10 s; answer 202 by then and let the work finish. */
const ANSWER_WITHIN_MS = 9_000;

type Delivery = Parameters<Probot['receive']>[0];

export async function registerWebhookRoute(
  app: FastifyInstance,
  probot: Probot,
  path: string,
  deliveries: DeliveryLog,
): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    scope.post(path, { schema: { hide: true } }, async (req, reply) => {
      const header = (name: string) => {
        const v = req.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      const signature = header('x-hub-signature-256');
      const body = typeof req.body === 'string' ? req.body : '';
      if (!signature || !(await probot.webhooks.verify(body, signature).catch(() => false))) {
        throw new GantryError('GANTRY_ERR_WEBHOOK_SIGNATURE');
      }
      const id = header('x-github-delivery');
      const name = header('x-github-event');
      if (!id || !name) {
        throw new GantryError(
          'GANTRY_ERR_VALIDATION',
          'A delivery needs x-github-delivery and x-github-event.',
        );
      }
      let payload: unknown;
      try {
        payload = JSON.parse(body);
      } catch {
        throw new GantryError('GANTRY_ERR_BAD_JSON');
      }
      // GitHub sends an object; anything else (null, a number) would only fail in a handler.
      if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
        throw new GantryError('GANTRY_ERR_VALIDATION', "A delivery's body must be a JSON object.");
      }
      if (!(await deliveries.claim(id))) return reply.code(200).send({ ok: true, duplicate: true });
      const work = probot.receive({ id, name, payload } as unknown as Delivery).then(
        () => 'done' as const,
        async (err: unknown) => {
          req.log.error({ err, delivery: id, event: name }, 'a GitHub App handler failed');
          await deliveries
            .release(id)
            .catch((e: unknown) =>
              req.log.error({ err: e, delivery: id }, 'forgetting a failed delivery failed'),
            );
          return 'failed' as const;
        },
      );
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), ANSWER_WITHIN_MS);
      });
      const outcome = await Promise.race([work, late]);
      clearTimeout(timer);
      if (outcome === 'failed') return reply.code(500).send({ ok: false });
      return reply.code(outcome === 'late' ? 202 : 200).send({ ok: true });
    });
  });
}
