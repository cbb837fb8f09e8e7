import type { Cidr } from '../common/ip';
import type { MapConfig, RData, ZoneConfig } from '../config';
import { TYPE_CODE } from '../config/records';
import type { PreparedAnswer } from '../dns';
import { healthyChoice } from './diff';
import { encodeAnswer, type RR } from './encode';

/**
 * Zone transfers (AXFR, and IXFR answered as a full transfer, RFC 1995
 * section 4), built once per map load for the zones whose `transfer:` list is
 * not empty. A secondary cannot geo-route, so each service is transferred as
 * the answer the default region gets while everything is up (README "Zone
 * transfers"); health changes do not touch these messages or the serial.
 */

/** Each message's records take at most this many bytes uncompressed (RFC 5936 allows many messages; BIND uses ~16 KB too). */
export const TRANSFER_MESSAGE_BYTES = 16 * 1024;

const QTYPE_AXFR = 252;

export interface ZoneTransfer {
  readonly zone: string;
  /** Sources that may transfer the zone (never empty: zones without a list get no ZoneTransfer). */
  readonly acl: readonly Cidr[];
  /** The messages in order: the SOA opens the first and closes the last. */
  readonly messages: readonly PreparedAnswer[];
}

/** Zone apex -> its transfer, for every zone with a non-empty `transfer:` list. */
export function buildTransfers(map: MapConfig): Map<string, ZoneTransfer> {
  const out = new Map<string, ZoneTransfer>();
  map.zones.forEach((zone, index) => {
    if (zone.transfer.length === 0) return;
    out.set(zone.name, { zone: zone.name, acl: zone.transfer, messages: splitMessages(zone.name, zoneRecords(map, zone, index)) });
  });
  return out;
}

/**
 * The records of a transfer, SOA first and last: every static record of the
 * zone (apex NS, glue, delegations, zone-file records) and each service's
 * A/AAAA as the default region's healthy choice, in canonical name order.
 */
function zoneRecords(map: MapConfig, zone: ZoneConfig, zoneIndex: number): RR[] {
  let soa: RR | null = null;
  const rest: RR[] = [];
  for (const rec of zone.records) {
    const rr = { name: rec.name, ttl: rec.ttl, rdata: rec.rdata };
    if (rec.rdata.type === 'SOA') soa = rr;
    else rest.push(rr);
  }
  for (const svc of map.services) {
    if (svc.zone !== zoneIndex) continue;
    const dc = healthyChoice(svc, map.rules.defaultRegion);
    const addrs = svc.addresses[dc];
    // AAAA as the query path answers it: with aaaa_fallback next, the list's first datacenter with IPv6.
    const has6 = (i: number): boolean => (svc.addresses[i]?.aaaa.length ?? 0) > 0;
    const dc6 = svc.aaaaFallback === 'next' && svc.policy === 'geo' ? (svc.preference[map.rules.defaultRegion].find(has6) ?? dc) : dc;
    for (const address of addrs?.a ?? []) rest.push({ name: svc.name, ttl: svc.ttl, rdata: { type: 'A', address } });
    for (const address of svc.addresses[dc6]?.aaaa ?? []) rest.push({ name: svc.name, ttl: svc.ttl, rdata: { type: 'AAAA', address } });
  }
  // Stable sort: records of one RRset keep their map-file order.
  rest.sort((a, b) => compareNames(a.name, b.name) || TYPE_CODE[a.rdata.type] - TYPE_CODE[b.rdata.type]);
  if (soa === null) throw new Error(`zone ${zone.name} has no SOA`); // the loader always adds one
  return [soa, ...rest, soa];
}

/** DNSSEC canonical order (RFC 4034 6.1): labels compared from the right, a missing label first; so the apex leads. */
export function compareNames(a: string, b: string): number {
  const la = a === '' ? [] : a.split('.');
  const lb = b === '' ? [] : b.split('.');
  for (let i = la.length - 1, j = lb.length - 1; i >= 0 || j >= 0; i--, j--) {
    if (i < 0) return -1;
    if (j < 0) return 1;
    if (la[i] !== lb[j]) return la[i] < lb[j] ? -1 : 1; // names are lower-case ASCII: code units order as octets
  }
  return 0;
}

/** Groups records into messages of at most TRANSFER_MESSAGE_BYTES (uncompressed, so the encoded ones are smaller). */
function splitMessages(zone: string, records: RR[]): PreparedAnswer[] {
  const messages: PreparedAnswer[] = [];
  let batch: RR[] = [];
  let bytes = 0;
  const flush = (): void => {
    // One encode per message also keeps dns2's per-packet cost (quadratic in records) bounded.
    messages.push(encodeAnswer(zone, QTYPE_AXFR, { rcode: 0, aa: true, answer: batch, authority: [], additional: [] }));
    batch = [];
    bytes = 0;
  };
  for (const rr of records) {
    const size = nameLength(rr.name) + 10 + rdataLength(rr.rdata);
    if (batch.length > 0 && bytes + size > TRANSFER_MESSAGE_BYTES) flush();
    batch.push(rr);
    bytes += size;
  }
  flush();
  return messages;
}

function nameLength(name: string): number {
  return name === '' ? 1 : Buffer.byteLength(name, 'latin1') + 2;
}

/** RDATA length on the wire without compression. */
function rdataLength(d: RData): number {
  switch (d.type) {
    case 'A':
      return 4;
    case 'AAAA':
      return 16;
    case 'NS':
    case 'CNAME':
    case 'PTR':
      return nameLength(d.target);
    case 'MX':
      return 2 + nameLength(d.exchange);
    case 'TXT':
      return d.strings.reduce((n, s) => n + 1 + s.length, 0);
    case 'SRV':
      return 6 + nameLength(d.target);
    case 'CAA':
      return 2 + Buffer.byteLength(d.tag) + Buffer.byteLength(d.value);
    case 'SOA':
      return nameLength(d.mname) + nameLength(d.rname) + 20;
  }
}
