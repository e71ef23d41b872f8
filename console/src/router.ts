/**
 * Hash routes (`/#/apps/acme/echo/production/revisions`): control serves one page at `/`, and a
 * link from GitHub or a terminal opens the right view without any server-side routing.
 */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'home' }
  | { page: 'cost' }
  | { page: 'call'; endpoint: string }
  | { page: 'env'; owner: string; name: string; env: string; tab: Tab; request?: string }
  | { page: 'missing'; path: string };

export const TABS = [
  'overview',
  'revisions',
  'requests',
  'rollouts',
  'events',
  'logs',
  'playground',
] as const;
export type Tab = (typeof TABS)[number];

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: 'home' };
  if (parts[0] === 'cost' && parts.length === 1) return { page: 'cost' };
  if (parts[0] === 'call' && parts.length >= 3) return { page: 'call', endpoint: parts.slice(1).join('/') };
  if (parts[0] === 'apps' && parts.length >= 4) {
    const [, owner, name, env, tab = 'overview', request] = parts as [
      string,
      string,
      string,
      string,
      string?,
      string?,
    ];
    if ((TABS as readonly string[]).includes(tab)) {
      return { page: 'env', owner, name, env, tab: tab as Tab, ...(request ? { request } : {}) };
    }
  }
  return { page: 'missing', path: `/${path}` };
}

/** The hash of an environment's page (and tab, and request). */
export function envHref(
  owner: string,
  name: string,
  env: string,
  tab: Tab = 'overview',
  request?: string,
): string {
  const p = [
    'apps',
    owner,
    name,
    env,
    ...(tab !== 'overview' || request ? [tab] : []),
    ...(request ? [request] : []),
  ];
  return `#/${p.map(encodeURIComponent).join('/')}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
