import { cidrContains, parseIp, unmapIpv4, type Cidr, type IpBytes } from '../common/ip';
import { inZone, type MapConfig, type ZoneConfig } from '../config';
import { QTYPE_ANY, RCODE, type PreparedAnswer, type Query } from '../dns';
import type { HealthView } from '../health';
import { explain, explanationLines, type Decider } from './explain';

/**
 * The names operators ask with dig to tell servers apart and to see why a
 * client got its answer. None of this is on the normal query path: the Router
 * only comes here for class CH, or for an IN name it does not have that starts
 * with `_explain.`.
 *
 * - CH TXT `id.server`, `hostname.bind` -> server.id; `version.bind`,
 *   `version.server` -> server.version (REFUSED when hidden). Prebuilt once.
 *   Other CH names REFUSED; other qtypes on those names an empty NOERROR (AA).
 * - IN TXT `_explain.NAME` -> one TXT record per explanation line, TTL 0, for
 *   sources in server.explain_acl. Built per query (it depends on the client).
 */

export const EXPLAIN_PREFIX = '_explain.';
const QTYPE_TXT = 16;
const QTYPE_SOA = 6;
const CLASS_IN = 1;
const CLASS_CH = 3;

export const REFUSED: PreparedAnswer = { rcode: RCODE.REFUSED, aa: false, an: 0, ns: 0, ar: 0, body: Buffer.alloc(0), minimal: null, signed: null };

/** True when `address` (IPv4-mapped IPv6 counts as IPv4) lies in one of the networks. */
export function aclAllows(acl: readonly Cidr[], address: IpBytes): boolean {
  const a = unmapIpv4(address) ?? address;
  return acl.some((net) => cidrContains(net, a));
}

/** `text` as TXT character-strings: at most 255 bytes each (RFC 1035 3.3.14). */
export function txtStrings(text: string): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) out.push(bytes.subarray(i, i + 255));
  return out.length ? out : [Buffer.alloc(0)];
}

/**
 * TXT records owned by the question name (a 0xC00C pointer, so the client's
 * spelling is kept), one per entry of `records`, each with its strings.
 */
export function encodeTxtRecords(qclass: number, ttl: number, records: Buffer[][]): Buffer {
  const parts: Buffer[] = [];
  for (const strings of records) {
    const rdlen = strings.reduce((n, s) => n + 1 + s.length, 0);
    const head = Buffer.alloc(12);
    head.writeUInt16BE(0xc00c, 0);
    head.writeUInt16BE(QTYPE_TXT, 2);
    head.writeUInt16BE(qclass, 4);
    head.writeUInt32BE(ttl, 6);
    head.writeUInt16BE(rdlen, 10);
    parts.push(head);
    for (const s of strings) parts.push(Buffer.from([s.length]), s);
  }
  return Buffer.concat(parts);
}

/** Uncompressed wire form of a lower-case ASCII name ('' = root). */
function wireName(name: string): Buffer {
  if (name === '') return Buffer.from([0]);
  const parts: Buffer[] = [];
  for (const label of name.split('.')) parts.push(Buffer.from([label.length]), Buffer.from(label, 'latin1'));
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** An SOA record, TTL 0, owned by the zone: a pointer to the zone's labels inside the question name. */
function encodeSoa(zone: ZoneConfig, ownerOffset: number): Buffer {
  const s = zone.soa;
  const rdata = Buffer.concat([wireName(s.mname), wireName(s.rname), Buffer.alloc(20)]);
  let o = rdata.length - 20;
  for (const v of [s.serial, s.refresh, s.retry, s.expire, s.minimum]) {
    rdata.writeUInt32BE(v >>> 0, o);
    o += 4;
  }
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc000 | ownerOffset, 0);
  head.writeUInt16BE(QTYPE_SOA, 2);
  head.writeUInt16BE(CLASS_IN, 4);
  head.writeUInt32BE(0, 6); // negative TTL min(0, MINIMUM) = 0: not cached
  head.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, rdata]);
}

function txtAnswer(qclass: number, text: string): PreparedAnswer {
  return { rcode: RCODE.NOERROR, aa: true, an: 1, ns: 0, ar: 0, body: encodeTxtRecords(qclass, 0, [txtStrings(text)]), minimal: null, signed: null };
}

const CHAOS_NODATA: PreparedAnswer = { rcode: RCODE.NOERROR, aa: true, an: 0, ns: 0, ar: 0, body: Buffer.alloc(0), minimal: null, signed: null };

export class DebugAnswers {
  /** CH name -> its TXT answer (REFUSED for a hidden version). */
  private readonly chaosNames = new Map<string, PreparedAnswer>();
  private readonly chaosAcl: readonly Cidr[] | null;
  private readonly explainAcl: readonly Cidr[];
  private readonly zones: readonly ZoneConfig[];

  constructor(map: MapConfig) {
    const server = map.server;
    const id = txtAnswer(CLASS_CH, server.id);
    const version = server.version === null ? REFUSED : txtAnswer(CLASS_CH, server.version);
    this.chaosNames.set('id.server', id);
    this.chaosNames.set('hostname.bind', id);
    this.chaosNames.set('version.bind', version);
    this.chaosNames.set('version.server', version);
    this.chaosAcl = server.chaosAcl;
    this.explainAcl = server.explainAcl;
    this.zones = map.zones;
  }

  /** Class CH: the prebuilt id/version answers. */
  chaos(q: Query, client: string): PreparedAnswer {
    const a = this.chaosNames.get(q.qname);
    if (a === undefined || a === REFUSED) return REFUSED;
    if (this.chaosAcl !== null && !allowed(this.chaosAcl, client)) return REFUSED;
    return q.qtype === QTYPE_TXT || q.qtype === QTYPE_ANY ? a : CHAOS_NODATA;
  }

  /** Class IN `_explain.NAME`: why this client (resolver address or ECS subnet) gets NAME's answer. */
  explain(q: Query, client: string, router: Decider, health: HealthView): PreparedAnswer {
    q.scope = 0; // an explanation is for this client only: never cached for others
    if (!allowed(this.explainAcl, client)) return REFUSED;
    const target = q.qname.slice(EXPLAIN_PREFIX.length);
    let zone: ZoneConfig | null = null;
    for (const z of this.zones) if (inZone(target, z.name) && (zone === null || z.name.length > zone.name.length)) zone = z;
    if (zone === null) return REFUSED;
    if (q.qtype !== QTYPE_TXT && q.qtype !== QTYPE_ANY) {
      // NODATA: the SOA (TTL 0) in authority, owned by the zone's labels at the end of the question name.
      const qnameWire = q.questionEnd - 16;
      const zoneWire = zone.name === '' ? 1 : zone.name.length + 2;
      const body = encodeSoa(zone, 12 + qnameWire - zoneWire);
      return { rcode: RCODE.NOERROR, aa: true, an: 0, ns: 1, ar: 0, body, minimal: null, signed: null };
    }
    // The same address Router.locate uses: the ECS subnet unless absent or /0, else the resolver.
    const ecs = q.ecs;
    // The explanation is for qtype A: what this client gets when it asks TARGET A (and explain() says
    // what the server answers for it, NXDOMAIN, NODATA, a referral or records, from the same path).
    const e =
      ecs !== null && ecs.sourcePrefix > 0
        ? explain(router, health, target, ecs.address, ecs.sourcePrefix, 1, client)
        : explain(router, health, target, parseIp(client) ?? new Uint8Array(4), null, 1, client);
    const lines = explanationLines(e);
    const body = encodeTxtRecords(CLASS_IN, 0, lines.map(txtStrings));
    return { rcode: RCODE.NOERROR, aa: true, an: lines.length, ns: 0, ar: 0, body, minimal: null, signed: null };
  }
}

/** Whether the packet's source address text is inside `acl` (IPv4-mapped sources count as IPv4). */
export function allowed(acl: readonly Cidr[], client: string): boolean {
  const a = parseIp(client);
  return a !== null && aclAllows(acl, a);
}
