import { formatIp, maskIp, parseIp, unmapIpv4 } from '../common/ip';
import type { MapConfig } from '../config';
import { buildResponse, parseQuery, Query, type PreparedAnswer } from '../dns';
import type { Classification, GeoMatch } from '../geo';
import type { HealthView } from '../health';
import { answerText, qtypeName, type AnswerText } from './answer-text';
import type { RoutingTables } from './tables';
import { addressesFor, blockBucket, BUCKETS, type WeightPlan } from './weights';
import { planSpill } from './spill';

const TYPE_A = 1;
const TYPE_AAAA = 28;

/**
 * What an explanation reads from the router: the map, its tables and the
 * same classification the query path uses. Router implements it; explain
 * and the debug answers take this, so routing's imports point one way
 * (router -> debug-answers -> explain, never back).
 */
export interface Decider {
  readonly map: MapConfig;
  readonly tables: RoutingTables;
  explainAddress(address: Uint8Array): Classification;
  locateAddress(address: Uint8Array): number;
  /** The answer the query path gives for q (Router.resolve without counting it). */
  preview(q: Query, client: string): PreparedAnswer;
}

/** What the server answers, read back from the reply bytes it would send. */
export interface ServerAnswer extends AnswerText {
  /** 'records', 'nodata' (name exists, type does not), 'nxdomain', 'refused' (outside our zones), 'referral' (delegated). */
  kind: 'records' | 'nodata' | 'nxdomain' | 'refused' | 'referral';
}

/** Why a client gets the answer it gets: everything an operator asks when a user lands in the wrong place. */
export interface Explanation {
  name: string;
  /** The query type explained ('A' unless asked otherwise). */
  qtype: string;
  /** Exactly what the server answers this client for (name, qtype). */
  answer: ServerAnswer;
  /** Address the decision used (the ECS subnet's address, or the resolver's). */
  address: string;
  source: 'ecs' | 'resolver';
  /** The client subnet as sent, e.g. '183.6.0.0/24', or null. */
  subnet: string | null;
  geo: GeoMatch;
  region: string;
  /** Rule that chose the region: 'cidr 10.0.0.0/8', 'subdivision CN-GD', 'country CN', 'continent AS', 'default'. */
  rule: string;
  /** The service the name leads to (itself or through CNAMEs), or null for a static name. */
  service: string | null;
  policy: 'geo' | 'primary' | null;
  /** The region's list; `noAddresses`: the datacenter has no address of the asked family (A or AAAA). */
  datacenters: Array<{ name: string; up: boolean; drained: boolean; chosen: boolean; noAddresses: boolean }>;
  /** Datacenter answered ('all' when the all-down fallback answers every one), or null. */
  chosen: string | null;
  fallback: boolean;
  /** ECS scope the reply carries (0 when the answer is the same for everyone). */
  scope: number;
  ttl: number | null;
  serverId: string;
  /** `answers: weighted N` and the chosen datacenter has more than N addresses: the draw this client block gets. */
  weights?: WeightExplanation;
  /** Services with `capacity:`: this region's split now (if any) and the one planned for each failure of its list. */
  spill?: SpillExplanation;
}

export interface SpillExplanation {
  /** The region's split now ("bj 43%, sg 57%"), or null when its first choice is up. */
  now: string | null;
  /** "if gz fails: bj 43%, sg 57%" for each datacenter of the region's list. */
  plans: string[];
}

export interface WeightExplanation {
  /** Addresses per answer. */
  n: number;
  /** The client block the draw is made for ('183.6.0.0/24', '2001:db8:1:200::/56'). */
  block: string;
  bucket: number;
  /** The chosen datacenter's addresses in map order: weight, per-address health, in this block's answer. */
  addresses: Array<{ address: string; weight: number; up: boolean; drawn: boolean }>;
}

/** Optional detail a health view may offer (the mirror does): verdict and drain apart. */
interface HealthDetail {
  verdictUp(service: string, dc: string): boolean;
  isDrained(service: string, dc: string): boolean;
}

function hasDetail(h: HealthView): h is HealthView & HealthDetail {
  return typeof (h as Partial<HealthDetail>).verdictUp === 'function' && typeof (h as Partial<HealthDetail>).isDrained === 'function';
}

/**
 * The service a name leads to: itself, or the end of its CNAME chain inside
 * our zones. Read from the answer tables (the A, else AAAA, entry follows the
 * service), so it holds on a server whose records live only in packed tables.
 */
export function serviceFor(router: Decider, name: string): number {
  const node = router.tables.nodes.get(name.toLowerCase().replace(/\.$/, ''));
  if (!node) return -1;
  for (const qtype of [TYPE_A, TYPE_AAAA]) {
    const e = node.types.get(qtype);
    if (e?.dynamic) return e.service.index;
  }
  return -1;
}

/** The query packet a resolver would send: one question, and an ECS option when `prefix` is given. */
function queryPacket(name: string, qtype: number, addr: Uint8Array, prefix: number | null): Buffer {
  const labels = name === '' ? [] : name.split('.');
  const qname = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(1, 4);
  const question = Buffer.alloc(4);
  question.writeUInt16BE(qtype, 0);
  question.writeUInt16BE(1, 2);
  if (prefix === null) return Buffer.concat([header, qname, question]);
  header.writeUInt16BE(1, 10);
  const bytes = Buffer.from(maskIp(addr, prefix)).subarray(0, (prefix + 7) >> 3);
  const opt = Buffer.alloc(15);
  opt.writeUInt16BE(41, 1); // OPT, root owner
  opt.writeUInt16BE(1232, 3);
  opt.writeUInt16BE(8 + bytes.length, 9);
  opt.writeUInt16BE(8, 11); // ECS
  opt.writeUInt16BE(4 + bytes.length, 13);
  const ecs = Buffer.alloc(4);
  ecs.writeUInt16BE(addr.length === 4 ? 1 : 2, 0);
  ecs[2] = prefix;
  return Buffer.concat([header, qname, question, opt, ecs, bytes]);
}

/**
 * Asks the router exactly as the dns part does (the same parse, the same
 * resolve, the same reply assembly over TCP size) and reads the reply back.
 * Returns it with the ECS scope the reply carries.
 */
function serverAnswer(router: Decider, name: string, qtype: number, addr: Uint8Array, prefix: number | null, client: string): [ServerAnswer, number] {
  const q = new Query();
  parseQuery(queryPacket(name, qtype, addr, prefix), q);
  const reply = buildResponse(q, router.preview(q, client), 65535);
  const t = answerText(reply);
  let kind: ServerAnswer['kind'];
  if (t.rcode === 'REFUSED') kind = 'refused';
  else if (t.rcode === 'NXDOMAIN') kind = 'nxdomain';
  else if (!t.aa && t.authority.some((r) => r.split(' ')[2] === 'NS')) kind = 'referral';
  else if (t.answer.length === 0) kind = 'nodata';
  else kind = 'records';
  return [{ kind, ...t }, prefix === null || prefix === 0 ? 0 : q.scope];
}

/**
 * Explains the answer for `name` and `qtype` (default A) as asked by `addr`
 * (the ECS address when `prefix` is given, else the resolver, whose text is
 * `client`). The answer itself comes from the router's query path (see
 * serverAnswer), so it is what dig gets; the rest explains it: the full MMDB
 * lookup names the rule and the GeoIP match.
 */
export function explain(
  router: Decider,
  health: HealthView,
  name: string,
  addr: Uint8Array,
  prefix: number | null,
  qtype = 1,
  client: string = formatIp(addr),
): Explanation {
  const map = router.map;
  // ECS /0 means "do not tailor": the server then places the resolver, as Router.locate does.
  const ecs = prefix !== null && prefix > 0;
  const placed = ecs ? maskIp(addr, prefix) : (parseIp(client) ?? addr);
  const masked = unmapIpv4(placed) ?? placed;
  const c = router.explainAddress(masked);
  const located = router.locateAddress(masked);
  const qname = name.toLowerCase().replace(/\.$/, '');
  const [answer, replyScope] = serverAnswer(router, qname, qtype, addr, prefix, client);
  const svcIndex = serviceFor(router, name);
  const base: Explanation = {
    name: qname,
    qtype: qtypeName(qtype),
    answer,
    address: formatIp(masked),
    source: ecs ? 'ecs' : 'resolver',
    subnet: prefix === null ? null : `${formatIp(maskIp(addr, prefix))}/${prefix}`,
    geo: c.match,
    region: map.regions[c.region].name,
    rule: c.rule,
    service: null,
    policy: null,
    datacenters: [],
    chosen: null,
    fallback: false,
    scope: replyScope,
    ttl: null,
    serverId: map.serverId,
  };
  // The service decides only what it answers: its A/AAAA (or ANY), authoritatively, not a referral or an error.
  const serviceAnswered = (qtype === 1 || qtype === 28 || qtype === 255) && answer.aa && answer.rcode === 'NOERROR';
  if (svcIndex < 0 || !serviceAnswered) return base;
  const svc = map.services[svcIndex];
  const rt = router.tables.services[svcIndex];
  const region = located >> 8;
  const moved = rt.ndc + 1;
  // The family whose state decided (ANY answers the A RRset when the service has any A address, as the tables do).
  const v6 = qtype === 28 || (qtype === 255 && !svc.addresses.some((x) => x !== null && x.a.length > 0));
  const route = v6 ? rt.aaaa : rt.a;
  const family = v6 ? 'aaaa' : 'a';
  const sp = route.spill;
  const bucketOfClient = blockBucket(masked);
  const split = sp !== null && sp.split[region] === 1;
  const choice = split && sp ? sp.table[region * BUCKETS + bucketOfClient] : route.choice[region];
  const dc = choice % moved;
  const list = svc.policy === 'primary' ? [svc.primary, ...svc.standbys] : svc.preference[region];
  const detail = hasDetail(health) ? health : null;
  const plan: WeightPlan | null = rt.weights[family];
  const draw = plan && dc < rt.ndc ? plan.draws[dc] : null;
  let weights: WeightExplanation | undefined;
  if (plan && draw) {
    const dcName = map.datacenters[dc].name;
    const perAddress = svc.check?.perAddress === true;
    const up = (a: string): boolean => !perAddress || health.isUp(svc.name, `${dcName}@${a}`);
    const bits = masked.length === 4 ? 24 : 56;
    const bucket = bucketOfClient;
    const drawn = addressesFor(plan, dc, bucket, (i) => up(draw.addresses[i]));
    weights = {
      n: plan.n,
      block: `${formatIp(maskIp(masked, bits))}/${bits}`,
      bucket,
      addresses: draw.addresses.map((address, i) => ({ address, weight: draw.weights[i], up: up(address), drawn: drawn.includes(address) })),
    };
  }
  let spill: SpillExplanation | undefined;
  if (sp !== null) {
    const names = map.datacenters.map((d) => d.name);
    const text = (parts: ReadonlyArray<{ dc: number; fraction: number }>): string => parts.map((x) => `${names[x.dc]} ${Math.round(100 * x.fraction)}%`).join(', ');
    const current = split ? sp.plan?.regions[region] : null;
    const upNow = (d: number): boolean => health.isUp(svc.name, names[d]);
    spill = {
      now: current ? text(current) : null,
      plans: route.lists[region].map((failed) => {
        const p = planSpill(svc, route.lists, sp.shares, (d) => d !== failed && upNow(d));
        const r = p?.regions[region];
        return `if ${names[failed]} fails: ${r ? text(r) : `${map.regions[region].name} stays where it is`}${p?.short ? ' (short)' : ''}`;
      }),
    };
  }
  return {
    ...base,
    ...(weights ? { weights } : {}),
    ...(spill ? { spill } : {}),
    service: svc.name,
    policy: svc.policy,
    datacenters: list.map((i) => {
      const dcName = map.datacenters[i].name;
      return {
        name: dcName,
        up: detail ? detail.verdictUp(svc.name, dcName) : health.isUp(svc.name, dcName),
        drained: detail ? detail.isDrained(svc.name, dcName) : false,
        chosen: i === dc,
        noAddresses: (svc.addresses[i]?.[family].length ?? 0) === 0,
      };
    }),
    chosen: dc === rt.ndc ? 'all' : map.datacenters[dc].name,
    fallback: route.fallback[region] === 1,
    ttl: choice >= moved ? svc.failoverTtl : svc.ttl,
  };
}

/** One line saying what the server answers, then its records (answer, authority, additional). */
export function answerLines(e: Explanation): string[] {
  const a = e.answer;
  let head: string;
  switch (a.kind) {
    case 'refused':
      head = `answer REFUSED: ${e.name} is outside every zone of this server`;
      break;
    case 'nxdomain':
      head = `answer NXDOMAIN: no such name${a.answer.length ? ' at the end of the CNAME chain' : ''} (SOA in authority)`;
      break;
    case 'referral':
      head = `answer referral (NOERROR, not authoritative): delegated to ${a.authority[0]?.split(' ')[0] ?? '?'}`;
      break;
    case 'nodata':
      head = `answer NODATA (NOERROR, no ${e.qtype} records${a.answer.length ? ' at the end of the CNAME chain' : ''}; SOA in authority)`;
      break;
    default: {
      const last = a.answer[a.answer.length - 1]?.split(' ');
      const open = last !== undefined && last[2] === 'CNAME' && e.qtype !== 'CNAME';
      head = `answer NOERROR ${a.answer.length} record${a.answer.length === 1 ? '' : 's'}${open ? ' (CNAME chain leaves our zones: the resolver follows it)' : ''}`;
    }
  }
  return [
    head,
    ...a.answer.map((r) => `answer-rr ${r}`),
    ...a.authority.map((r) => `authority-rr ${r}`),
    ...a.additional.map((r) => `additional-rr ${r}`),
  ];
}

/** The explanation as short lines (each well under 255 bytes, one TXT string each). */
export function explanationLines(e: Explanation): string[] {
  const geo = [e.geo.country ?? '-', e.geo.subdivision ?? '-', e.geo.continent ?? '-'].join('/');
  const lines = [
    `name ${e.name}`,
    `client ${e.address} (${e.source === 'ecs' ? `ECS ${e.subnet}` : 'resolver address'})`,
    `geoip ${geo} network ${e.geo.network || '(not in database)'}`,
    `region ${e.region} by ${e.rule}`,
    `query ${e.name} ${e.qtype}`,
    ...answerLines(e),
  ];
  if (e.service === null) {
    if (e.answer.kind === 'records') lines.push('static answer: same for every client (scope 0)');
  } else {
    lines.push(`service ${e.service} policy ${e.policy}`);
    lines.push(
      `datacenters ${e.datacenters
        .map((d) => `${d.name}=${d.drained ? 'drained' : d.up ? 'up' : 'down'}${d.noAddresses ? `(no ${e.qtype === 'AAAA' ? 'AAAA' : 'A'})` : ''}${d.chosen ? '*' : ''}`)
        .join(' ')}`,
    );
    lines.push(`chosen ${e.chosen}${e.fallback ? ' (all down: fallback)' : ''}`);
    if (e.spill) {
      if (e.spill.now) lines.push(`spill ${e.region} now: ${e.spill.now} (by client block)`);
      for (const p of e.spill.plans) lines.push(`spill ${p}`);
    }
    if (e.weights) {
      const w = e.weights;
      lines.push(`weighted ${w.n} of ${w.addresses.length} by block ${w.block} (bucket ${w.bucket})`);
      // A TXT string holds 255 bytes: one line per few addresses.
      let line = 'weights';
      for (const a of w.addresses) {
        const item = ` ${a.address}=${a.weight}${a.up ? '' : '(down)'}${a.drawn ? '*' : ''}`;
        if (line.length + item.length > 200) {
          lines.push(line);
          line = 'weights';
        }
        line += item;
      }
      lines.push(line);
    }
    lines.push(`scope /${e.scope} ttl ${e.ttl}`);
  }
  lines.push(`server ${e.serverId}`);
  return lines;
}
