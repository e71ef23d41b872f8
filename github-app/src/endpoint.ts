/** Endpoint ids and URLs as callers see them. */

/** `<owner>/<app>` for production, `<owner>/<app>--<env>` otherwise; GitHub owners are lower-cased. */
export function endpointId(owner: string, app: string, environment: string): string {
  const base = `${owner.toLowerCase()}/${app}`;
  return environment === 'production' ? base : `${base}--${environment}`;
}

/** The endpoint's queue URL (fal's `queue.fal.run/{id}`). */
export function endpointUrl(publicUrl: string, id: string): string {
  return `${publicUrl.replace(/\/$/, '')}/queue/${id}`;
}

/**
 * The environment's page in control's web console (`<control>/#/apps/<owner>/<app>/<env>`), or
 * one of its tabs: where a deployment's log and a comment's reader should land.
 */
export function consoleUrl(publicUrl: string, id: string, tab?: 'revisions' | 'requests'): string {
  const [owner = '', rest = ''] = id.split('/');
  const [app = '', environment = 'production'] = rest.split('--');
  const parts = ['apps', owner, app, environment, ...(tab ? [tab] : [])].map(encodeURIComponent);
  return `${publicUrl.replace(/\/$/, '')}/#/${parts.join('/')}`;
}

/** Markdown telling a reader how to call the endpoint. */
export function howToCall(publicUrl: string, id: string): string {
  const base = publicUrl.replace(/\/$/, '');
  return [
    '```sh',
    `curl -X POST ${base}/run/${id} -H "Authorization: Key $GANTRY_KEY" -H 'content-type: application/json' -d '{}'`,
    '```',
    `or with fal's client: \`fal.config({ proxyUrl: '${base}/fal/proxy' })\` then \`fal.subscribe('${id}', { input })\`.`,
  ].join('\n');
}

export const shortSha = (sha: string) => sha.slice(0, 7);
