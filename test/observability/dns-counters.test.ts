import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadMapFile } from '../../src/config';
import { DnsServer, QTYPE_SLOTS, type Query } from '../../src/dns';
import { GeoClassifier, GeoDatabase } from '../../src/geo';
import { HealthMirror, MemoryStore } from '../../src/health';
import { registerDnsMetrics, Registry } from '../../src/observability';
import { Router } from '../../src/routing';
import { buildQuery, ecsOption } from '../helpers/packet';
import { parseProm, promValue } from '../helpers/prom';
import { DEFAULT_MAP } from '../helpers/server';

// The query path's counters: plain numbers bumped in handle(), labelled only when scraped.

let mirror: HealthMirror;
let router: Router;
let dns: DnsServer;

before(async () => {
  const map = loadMapFile(DEFAULT_MAP);
  mirror = new HealthMirror(new MemoryStore());
  await mirror.start();
  router = new Router(map, new GeoClassifier(GeoDatabase.open(GeoDatabase.geoLite2Path()), map.rules), mirror);
});
after(() => {
  router.detach();
  mirror.stop();
});

const fresh = (): DnsServer => (dns = new DnsServer(router));
const scrape = async (): Promise<ReturnType<typeof parseProm>> => {
  const r = new Registry();
  registerDnsMetrics(r, () => dns.stats);
  return parseProm(await r.metrics());
};

test('requests are counted by transport, family and type; rare types as "other"', async () => {
  fresh();
  dns.handle(buildQuery({ name: 'www.example.com' }), '192.0.2.1', false);
  dns.handle(buildQuery({ name: 'www.example.com', type: 28 }), '2001:db8::1', false);
  dns.handle(buildQuery({ name: 'example.com', type: 257 }), '192.0.2.1', true);
  dns.handle(buildQuery({ name: 'example.com', type: 62 }), '192.0.2.1', false); // CSYNC: no label of its own
  dns.handle(buildQuery({ name: 'example.com', type: 65280 }), '192.0.2.1', false); // private use
  const m = await scrape();
  assert.equal(promValue(m, 'geosteer_dns_requests_total', { proto: 'udp', family: 'ipv4', type: 'A' }), 1);
  assert.equal(promValue(m, 'geosteer_dns_requests_total', { proto: 'udp', family: 'ipv6', type: 'AAAA' }), 1);
  assert.equal(promValue(m, 'geosteer_dns_requests_total', { proto: 'tcp', family: 'ipv4', type: 'CAA' }), 1);
  assert.equal(promValue(m, 'geosteer_dns_requests_total', { proto: 'udp', family: 'ipv4', type: 'other' }), 2);
  assert.equal(m.samples.filter((x) => x.name === 'geosteer_dns_requests_total' && x.labels.type === 'other').length, 1, 'one "other" series');
  assert.equal(dns.stats.requests.length, 4 * QTYPE_SLOTS);
});

test('rcodes, ECS and drops', async () => {
  fresh();
  dns.handle(buildQuery({ name: 'www.example.com', edns: { options: [ecsOption('183.6.0.0', 24)] } }), '192.0.2.1', false);
  dns.handle(buildQuery({ name: 'nope.example.com' }), '192.0.2.1', false);
  dns.handle(buildQuery({ name: 'www.example.org' }), '192.0.2.1', false); // not our zone
  const resp = buildQuery({ name: 'www.example.com' });
  resp[2] |= 0x80; // a response: dropped, not answered
  assert.equal(dns.handle(resp, '192.0.2.1', false), null);
  const m = await scrape();
  assert.equal(promValue(m, 'geosteer_dns_responses_total', { rcode: 'NOERROR' }), 1);
  assert.equal(promValue(m, 'geosteer_dns_responses_total', { rcode: 'NXDOMAIN' }), 1);
  assert.equal(promValue(m, 'geosteer_dns_responses_total', { rcode: 'REFUSED' }), 1);
  assert.equal(promValue(m, 'geosteer_dns_ecs_total', { present: 'true' }), 1);
  assert.equal(promValue(m, 'geosteer_dns_ecs_total', { present: 'false' }), 2);
  assert.equal(promValue(m, 'geosteer_dns_dropped_total'), 1);
  assert.equal(promValue(m, 'geosteer_dns_requests_total'), 3, 'a dropped datagram is not a request');
});

test('timing is sampled: one query in N lands in the histogram', async () => {
  fresh();
  dns.stats.setTiming(4);
  for (let i = 0; i < 20; i++) dns.handle(buildQuery({ name: 'www.example.com' }), '192.0.2.1', false);
  let m = await scrape();
  assert.equal(promValue(m, 'geosteer_dns_request_duration_seconds_count'), 5);
  assert.ok(promValue(m, 'geosteer_dns_request_duration_seconds_sum') > 0);
  dns.stats.setTiming(0);
  for (let i = 0; i < 20; i++) dns.handle(buildQuery({ name: 'www.example.com' }), '192.0.2.1', false);
  m = await scrape();
  assert.equal(promValue(m, 'geosteer_dns_request_duration_seconds_count'), 5, 'off: nothing more timed');
  // A dropped message in between does not stop the countdown.
  dns.stats.setTiming(2);
  const resp = buildQuery({ name: 'www.example.com' });
  resp[2] |= 0x80;
  for (let i = 0; i < 10; i++) {
    dns.handle(resp, '192.0.2.1', false);
    dns.handle(buildQuery({ name: 'www.example.com' }), '192.0.2.1', false);
  }
  m = await scrape();
  assert.ok(promValue(m, 'geosteer_dns_request_duration_seconds_count') >= 9);
});

test('the query sampler sees one query in N, with the rcode, and a throwing sampler breaks nothing', () => {
  fresh();
  const seen: string[] = [];
  dns.stats.setSampler({ every: 3, sample: (q: Query, client: string, rcode: number) => void seen.push(`${q.qname} ${client} ${rcode}`) });
  for (let i = 0; i < 9; i++) dns.handle(buildQuery({ name: i === 2 ? 'nope.example.com' : 'www.example.com' }), '192.0.2.1', false);
  assert.deepEqual(seen, ['nope.example.com 192.0.2.1 3', 'www.example.com 192.0.2.1 0', 'www.example.com 192.0.2.1 0']);
  dns.stats.setSampler({ every: 1, sample: () => { throw new Error('boom'); } });
  assert.ok(dns.handle(buildQuery({ name: 'www.example.com' }), '192.0.2.1', false));
  dns.stats.setSampler(null);
  assert.ok(dns.stats.sampleLeft < 0);
});
