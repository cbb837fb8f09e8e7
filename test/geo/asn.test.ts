import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseIp, formatIp, type IpBytes } from '../../src/common/ip';
import { loadMapFile, parseMapText, type MapConfig } from '../../src/config';
import { GeoClassifier, GeoDatabase, packedRegion, packedScope } from '../../src/geo';
import { defaultAsnFiles, rangeToCidrs } from '../../src/geo/asn-database';
import { dig } from '../helpers/dig';
import { startServer, writeTemp, type TestServer } from '../helpers/server';

const ROOT = resolve(__dirname, '../../..');
const CARRIERS = join(ROOT, 'geodata/carriers.yaml');
const carriersText = readFileSync(CARRIERS, 'utf8');

/** The first IPv4 CSV row of `asn` (numeric file), as [start, end]: tests pick blocks from the data itself. */
function firstRange(asn: number): [number, number] {
  const text = readFileSync(defaultAsnFiles().v4, 'utf8');
  const m = new RegExp(`^(\\d+),(\\d+),${asn},`, 'm').exec(text);
  assert.ok(m, `AS${asn} in the CSV`);
  return [Number(m[1]), Number(m[2])];
}
const v4 = (n: number): IpBytes => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);

describe('asns region rules', () => {
  let map: MapConfig;
  let db: GeoDatabase;
  let c: GeoClassifier;
  before(() => {
    map = loadMapFile(CARRIERS);
    db = GeoDatabase.open(GeoDatabase.geoLite2Path());
    c = new GeoClassifier(db, map.rules);
  });

  test('rangeToCidrs covers a range exactly with aligned blocks', () => {
    const got = rangeToCidrs(BigInt(0x01000000 + 5), BigInt(0x01000000 + 20), 32).map((x) => `${formatIp(x.bytes)}/${x.prefix}`);
    assert.deepEqual(got, ['1.0.0.5/32', '1.0.0.6/31', '1.0.0.8/29', '1.0.0.16/30', '1.0.0.20/32']);
  });

  test('an address inside a carrier block from the CSV gets the carrier region, with the ASN as the rule', () => {
    for (const [asn, region] of [[4134, 'telecom'], [4837, 'unicom'], [9808, 'mobile']] as const) {
      const [s] = firstRange(asn);
      const k = c.classify(v4(s));
      assert.equal(map.regions[k.region].name, region);
      assert.equal(k.asn, asn);
      assert.match(k.rule, new RegExp(`^asn ${asn} \\(.+\\) group ${region}$`));
      assert.equal(packedRegion(c.locate(v4(s))), k.region);
    }
  });

  test('every address inside the scope locate() returns gets the same region (ASN rules merged)', () => {
    let seed = 7;
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    const starts = [4134, 4837, 9808, 56040].map((a) => firstRange(a)[0]);
    for (let i = 0; i < 3000; i++) {
      // Half near carrier blocks, half anywhere.
      const base = i % 2 ? starts[i % starts.length] + (rnd() % 65536) : rnd();
      const a = v4(base >>> 0);
      const p = c.locate(a);
      const scope = packedScope(p);
      const span = 2 ** (32 - scope);
      const net = Math.floor((base >>> 0) / span) * span;
      for (let j = 0; j < 4; j++) {
        const inside = v4(net + (j === 0 ? 0 : j === 1 ? span - 1 : rnd() % span));
        assert.equal(c.classify(inside).region, packedRegion(p), `${formatIp(a)}/${scope} vs ${formatIp(inside)}`);
      }
    }
  });

  test('precedence: a CIDR override beats the ASN rule, the ASN rule beats the subdivision', () => {
    const [s] = firstRange(4134);
    const addr = formatIp(v4(s));
    const text = carriersText.replace('  telecom:\n    asns: [telecom]', `  pinned:\n    cidrs: [${addr}/32]\n    datacenters: [sg]\n  telecom:\n    asns: [telecom]`);
    const m = parseMapText(text, CARRIERS);
    const cc = new GeoClassifier(db, m.rules);
    const k = cc.classify(v4(s));
    assert.equal(m.regions[k.region].name, 'pinned');
    assert.equal(k.rule, `cidr ${addr}/32`);
    assert.equal(m.regions[packedRegion(cc.locate(v4(s)))].name, 'pinned');
    assert.equal(m.regions[packedRegion(cc.locate(v4(s + 1)))].name, 'telecom');
    // 113.108.0.1 is Guangdong (south by subdivision) and in AS4134: the ASN wins.
    const gd = parseIp('113.108.0.1') as IpBytes;
    assert.equal(db.lookup(gd).match.subdivision, 'CN-GD');
    assert.equal(map.regions[c.classify(gd).region].name, 'telecom');
  });

  test('bad asns: unknown group, non-integer AS number, missing ASN database are map errors', () => {
    const bad = (t: string): string => {
      try {
        parseMapText(t, CARRIERS);
      } catch (e) {
        return (e as Error).message;
      }
      return 'accepted';
    };
    assert.match(bad(carriersText.replace('asns: [telecom]', 'asns: [telcom]')), /"telcom" is neither an AS number nor a group of asn_groups \(known: telecom, unicom, mobile\)/);
    assert.match(bad(carriersText.replace('[4134, 4812, 23724]', '[4134.5, 4812]')), /asn_groups\.telecom\[0\]: 4134\.5 is not an AS number/);
    assert.match(bad(carriersText.replace('asn_database: default', 'asn_database: /nonexistent/asn.mmdb')), /geoip\.asn_database: ASN database \/nonexistent\/asn\.mmdb: cannot read/);
    assert.match(bad(carriersText.replace('asns: [mobile]', 'asns: [mobile, 4134]')), /asn 4134 is already mapped to region "telecom"/);
  });

  test('a CSV given by path is read; an AS number with no block loads (check warns)', () => {
    const csv = writeTemp('asn.csv', '10.1.0.0,10.1.255.255,64500,"Test, Inc."\n10.2.0.0,10.2.0.255,64501,Other\n');
    const text = carriersText.replace('asn_database: default', `asn_database: ${csv}`).replace('[4134, 4812, 23724]', '[64500, 64999]');
    const m = parseMapText(text, CARRIERS);
    assert.deepEqual(m.asn?.rules.slice(0, 2).map((r) => [r.asn, r.org, r.v4Blocks]), [[64500, 'Test, Inc.', 1], [64999, '', 0]]);
    const cc = new GeoClassifier(db, m.rules);
    const k = cc.classify(parseIp('10.1.2.3') as IpBytes);
    assert.equal(k.rule, 'asn 64500 (Test, Inc.) group telecom');
    assert.equal(packedScope(cc.locate(parseIp('10.1.2.3') as IpBytes)), 16);
  });
});

describe('serve with carriers.yaml answers by carrier over dig with ECS', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ config: CARRIERS });
  });
  after(async () => {
    await srv.close();
  });

  test('ECS subnets inside Telecom, Unicom and Mobile blocks get their datacenters and a tailored scope', async () => {
    for (const [asn, addr] of [[4134, '192.0.2.10'], [4837, '198.51.100.10'], [9808, '192.0.2.30']] as const) {
      const [s] = firstRange(asn);
      const sub = `${formatIp(v4(s))}/24`;
      const r = await dig(srv.port, ['www.example.com', 'A', `+subnet=${sub}`]);
      assert.equal(r.status, 'NOERROR');
      assert.equal(r.answer[0]?.[4], addr, `AS${asn} ${sub}: ${r.raw}`);
      // Tailored (scope > 0); that every address in the scope gets the same region is the property test above.
      assert.ok(r.ecs && r.ecs.scope > 0, `scope ${r.ecs?.scope}`);
      const x = await dig(srv.port, ['_explain.www.example.com', 'TXT', `+subnet=${sub}`]);
      assert.match(x.raw, new RegExp(`region \\w+ by asn ${asn} \\(`));
    }
  });
});
