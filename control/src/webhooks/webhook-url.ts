/**
 * Which `fal_webhook` URLs control will call. A webhook is a request control makes on a caller's
 * behalf, so a URL that resolves to loopback, private, link-local or otherwise internal addresses
 * is refused (it would let any caller probe the network control runs in), unless the operator
 * allows it for a private deployment. Checked at submit and again before each delivery, since
 * what a name resolves to can change in between.
 */
import { lookup as dnsLookupCb, type LookupAddress, type LookupOptions } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { GantryError } from '../../../contract/src/errors.ts';

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
  // IPv4-mapped and IPv4-compatible forms are decoded to their IPv4 address (embeddedIpv4): a rule
  // for them here would match every IPv4 address, which BlockList also checks as ::ffff:a.b.c.d.
  ['::', 128],
  ['::1', 128],
  ['::ffff:0:0:0', 96], // IPv4-translated (SIIT): never a public destination, often routed to the IPv4 inside
  ['64:ff9b::', 96], // NAT64
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001::', 32], // Teredo: an IPv4 address inside
  ['2002::', 16], // 6to4: an IPv4 address inside
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  INTERNAL.addSubnet(net, bits, 'ipv6');
}

/** True for an address a public webhook must not resolve to. */
export function isInternalAddress(address: string): boolean {
  const v4 = embeddedIpv4(address);
  if (v4) return INTERNAL.check(v4, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  return INTERNAL.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or IPv4-compatible (::a.b.c.d) IPv6 address. */
function embeddedIpv4(address: string): string | undefined {
  if (isIP(address) !== 6) return undefined;
  let canonical: string;
  try {
    canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1); // e.g. ::ffff:7f00:1
  } catch {
    return undefined;
  }
  const m = /^::(?:ffff:)?([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(canonical);
  if (!m) return undefined;
  const hi = Number.parseInt(m[1]!, 16);
  const lo = Number.parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
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

/**
 * A `lookup` for node:http that resolves a name and refuses internal addresses, so the address
 * checked is the address connected to: a name that answers with a public address at the check and
 * a private one at delivery (DNS rebinding) gets nowhere.
 */
export function publicOnlyLookup(
  hostname: string,
  options: LookupOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
): void {
  dnsLookupCb(hostname, { ...options, all: true, verbatim: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const list = addresses as LookupAddress[];
    const bad = list.find((a) => isInternalAddress(a.address));
    if (bad || list.length === 0) {
      const e: NodeJS.ErrnoException = new Error(
        `${hostname} resolves to an internal address (${bad?.address ?? 'none'})`,
      );
      e.code = 'EADDRNOTAVAIL';
      return callback(e, []);
    }
    if (options.all) return callback(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
}
