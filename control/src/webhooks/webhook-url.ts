/**
 * Which `fal_webhook` URLs control will call. A webhook is a request control makes on a caller's
 * behalf, so a URL that resolves to loopback, private, link-local or otherwise internal addresses
 * is refused (it would let any caller probe the network control runs in), unless the operator
 * allows it for a private deployment. Checked at submit and again before each delivery, since
 * what a name resolves to can change in between.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { GantryError } from '../errors.ts';

const INTERNAL = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  INTERNAL.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const) {
  INTERNAL.addSubnet(net, bits, 'ipv6');
}

/** True for an address a public webhook must not resolve to. */
export function isInternalAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return INTERNAL.check(mapped[1]!, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  return INTERNAL.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export type Lookup = (host: string) => Promise<{ address: string }[]>;

const defaultLookup: Lookup = (host) => dnsLookup(host, { all: true, verbatim: true });

/** Throws GANTRY_ERR_BAD_WEBHOOK_URL unless `raw` is an http(s) URL control may call. */
export async function checkWebhookUrl(
  raw: string,
  opts: { allowPrivate: boolean; lookup?: Lookup },
): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new GantryError('GANTRY_ERR_BAD_WEBHOOK_URL', `fal_webhook is not a URL: "${raw.slice(0, 200)}".`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new GantryError('GANTRY_ERR_BAD_WEBHOOK_URL', 'fal_webhook must be an http or https URL.');
  }
  if (url.username || url.password) {
    throw new GantryError('GANTRY_ERR_BAD_WEBHOOK_URL', 'fal_webhook must not carry credentials.');
  }
  if (opts.allowPrivate) return url;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: { address: string }[];
  try {
    addresses = isIP(host) ? [{ address: host }] : await (opts.lookup ?? defaultLookup)(host);
  } catch {
    throw new GantryError('GANTRY_ERR_BAD_WEBHOOK_URL', `fal_webhook's host ${host} does not resolve.`);
  }
  if (addresses.length === 0 || addresses.some((a) => isInternalAddress(a.address))) {
    throw new GantryError(
      'GANTRY_ERR_BAD_WEBHOOK_URL',
      `fal_webhook's host ${host} resolves to a loopback, private or internal address; control calls public URLs only.`,
    );
  }
  return url;
}
