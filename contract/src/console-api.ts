/**
 * Schemas of the routes the web console reads beyond the management API: its session, one request
 * with its input and result, the last hour's series and the cost. Control validates and documents
 * them; the console takes their types (types only: nothing of contract/ is bundled into it).
 */
import { type Static, Type } from 'typebox';
import { RequestView } from './management-api.ts';

export const SignIn = Type.Object(
  { key: Type.String({ minLength: 1, maxLength: 500 }) },
  { additionalProperties: false },
);

export const SessionView = Type.Object({
  scope: Type.Union([Type.Literal('ADMIN'), Type.Literal('API')]),
  owner: Type.Union([Type.String(), Type.Null()]),
  csrf: Type.String({ description: 'send as `x-gantry-csrf` on every call that changes something' }),
  endpoints: Type.Optional(
    Type.Array(Type.Object({ endpoint_id: Type.String(), auth_mode: Type.String() }), {
      description: 'for an API key: the endpoints it may call',
    }),
  ),
});
export type SessionView = Static<typeof SessionView>;

export const RequestDetail = Type.Intersect([
  RequestView,
  Type.Object({
    input: Type.Unknown({ description: 'what the caller sent: JSON as a value, text as a string' }),
    result: Type.Unknown({ description: "the app's answer, once completed" }),
    result_content_type: Type.Union([Type.String(), Type.Null()]),
  }),
]);
export type RequestDetail = Static<typeof RequestDetail>;

export const SeriesQuery = Type.Object({
  minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440, default: 60 })),
});
export const SeriesView = Type.Object({
  minutes: Type.Array(
    Type.Object({
      at: Type.String({ description: 'start of the minute' }),
      submitted: Type.Integer(),
      queue_depth: Type.Integer({ description: 'requests waiting at the end of the minute' }),
      p50_latency_ms: Type.Union([Type.Number(), Type.Null()], {
        description: 'submit to completion, of the requests completed in the minute',
      }),
      p95_latency_ms: Type.Union([Type.Number(), Type.Null()]),
    }),
  ),
});
export type SeriesView = Static<typeof SeriesView>;

export const CostQuery = Type.Object({
  days: Type.Optional(Type.Integer({ minimum: 1, maximum: 90, default: 14 })),
});
export const CostView = Type.Object({
  days: Type.Array(
    Type.Object({
      day: Type.String({ description: 'UTC date, YYYY-MM-DD' }),
      machine_type: Type.String(),
      app: Type.String(),
      environment: Type.String(),
      runner_seconds: Type.Number(),
    }),
  ),
});
export type CostView = Static<typeof CostView>;
