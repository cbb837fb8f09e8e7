import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, formatIssue } from '../../src/common/errors';
import { parseCidr, parseIp, type Cidr } from '../../src/common/ip';
import { DEFAULT_EXPLAIN_ACL, parseMapText, type MapConfig } from '../../src/config/map-file';
import type { PreparedAnswer } from '../../src/dns';
import { buildError, buildResponse } from '../../src/dns/respond';
import { ParseResult, parseQuery, Query, RCODE } from '../../src/dns/wire';
import type { HealthView } from '../../src/health';
import { aclAllows, DebugAnswers, encodeTxtRecords, REFUSED, txtStrings } from '../../src/routing/debug-answers';
import type { Router } from '../../src/routing';
import { buildQuery } from '../helpers/packet';

// Pure parts of "debugging by dig": the ACL match, TXT encoding, the CHAOS
// answers, the server: block of the map file and NSID in the OPT record.
// The whole path with real dig is test/e2e/debug-by-dig.test.ts.

const ROOT = resolve(__dirname, '../../..');
const SAMPLE_PATH = join(ROOT, 'geodata/map.yaml');
const SAMPLE = readFileSync(SAMPLE_PATH, 'utf8');
const SERVER_BLOCK = '  id: ns1.example.com\n';

/** The sample map with its `server:` lines after `id:` replaced by `lines`. */
function withServer(lines: string): string {
  assert.ok(SAMPLE.includes(SERVER_BLOCK));
  return SAMPLE.replace(SERVER_BLOCK, SERVER_BLOCK + lines);
}

function load(text: string): MapConfig {
  try {
    return parseMapText(text, SAMPLE_PATH);
  } catch (e) {
    if (e instanceof ConfigError) assert.fail(e.issues.map(formatIssue).join('\n'));
    throw e;
  }
}

function issues(text: string): string[] {
  try {
    parseMapText(text, SAMPLE_PATH);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map(formatIssue);
    throw e;
  }
  assert.fail('expected the map to be rejected');
}

const cidrs = (...t: string[]): Cidr[] => t.map((x) => parseCidr(x) as Cidr);
const ip = (t: string): Uint8Array => parseIp(t) as Uint8Array;

function query(name: string, type: number, qclass = 1, edns?: { nsid?: boolean }): Query {
  const q = new Query();
  const options = edns?.nsid ? [{ code: 3, data: Buffer.alloc(0) }] : [];
  const r = parseQuery(buildQuery({ name, type, qclass, ...(edns ? { edns: { options } } : {}) }), q);
  assert.equal(r, ParseResult.OK);
  return q;
}

describe('aclAllows', () => {
  test('IPv4 networks on and off byte boundaries', () => {
    const acl = cidrs('172.16.0.0/12', '10.0.0.0/8');
    assert.ok(aclAllows(acl, ip('172.16.0.1')));
    assert.ok(aclAllows(acl, ip('172.31.255.255')));
    assert.ok(!aclAllows(acl, ip('172.32.0.0')));
    assert.ok(!aclAllows(acl, ip('172.15.255.255')));
    assert.ok(aclAllows(acl, ip('10.200.1.1')));
    assert.ok(!aclAllows(acl, ip('11.0.0.1')));
  });

  test('IPv6, families never match each other, /0 is everyone of its family', () => {
    assert.ok(aclAllows(cidrs('fc00::/7'), ip('fd12::1')));
    assert.ok(!aclAllows(cidrs('fc00::/7'), ip('fe80::1')));
    assert.ok(!aclAllows(cidrs('0.0.0.0/0'), ip('::1')));
    assert.ok(aclAllows(cidrs('0.0.0.0/0'), ip('8.8.8.8')));
    assert.ok(aclAllows(cidrs('::/0'), ip('2001:db8::1')));
    assert.ok(!aclAllows([], ip('127.0.0.1')));
  });

  test('an IPv4-mapped IPv6 source is matched as IPv4', () => {
    assert.ok(aclAllows(cidrs('127.0.0.0/8'), ip('::ffff:127.0.0.1')));
    assert.ok(!aclAllows(cidrs('127.0.0.0/8'), ip('::ffff:128.0.0.1')));
  });

  test('the default explain ACL: loopback and private ranges only', () => {
    const acl = cidrs(...DEFAULT_EXPLAIN_ACL);
    for (const a of ['127.0.0.1', '::1', '10.1.2.3', '172.20.0.1', '192.168.1.1', 'fd00::1']) assert.ok(aclAllows(acl, ip(a)), a);
    for (const a of ['8.8.8.8', '2001:db8::1', '192.169.0.1', '::2']) assert.ok(!aclAllows(acl, ip(a)), a);
  });
});

describe('TXT encoding', () => {
  test('txtStrings splits text into character-strings of at most 255 bytes', () => {
    assert.deepEqual(txtStrings('abc'), [Buffer.from('abc')]);
    const parts = txtStrings('x'.repeat(600));
    assert.deepEqual(parts.map((p) => p.length), [255, 255, 90]);
    assert.deepEqual(txtStrings(''), [Buffer.alloc(0)]);
  });

  test('encodeTxtRecords: owner pointer to the question, type, class, TTL, rdata', () => {
    const body = encodeTxtRecords(3, 0, [[Buffer.from('ab')], [Buffer.from('c'), Buffer.from('de')]]);
    assert.equal(
      body.toString('hex'),
      'c00c' + '0010' + '0003' + '00000000' + '0003' + '026162' + 'c00c' + '0010' + '0003' + '00000000' + '0005' + '0163' + '026465',
    );
  });
});

describe('server: block', () => {
  test('defaults: id geosteer, version from package.json, loopback/private explain ACL, CHAOS open to all', () => {
    const noServer = SAMPLE.replace(/^server:\n(?: {2}#.*\n)* {2}id: ns1\.example\.com\n/m, '');
    assert.ok(!noServer.includes('\nserver:'));
    const map = load(noServer);
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(map.server.id, 'geosteer');
    assert.equal(map.serverId, 'geosteer');
    assert.equal(map.server.version, `geosteer ${version}`);
    assert.deepEqual(map.server.explainAcl, cidrs(...DEFAULT_EXPLAIN_ACL));
    assert.equal(map.server.chaosAcl, null);
  });

  test('every key read: id (also as serverId), version, explain_acl, chaos_acl', () => {
    const map = load(withServer('  version: "ns build 7"\n  explain_acl: [10.0.0.0/8, "2001:db8::/32", 192.0.2.1]\n  chaos_acl: ["::ffff:127.0.0.0/104"]\n'));
    assert.equal(map.serverId, 'ns1.example.com');
    assert.equal(map.server.id, 'ns1.example.com');
    assert.equal(map.server.version, 'ns build 7');
    assert.deepEqual(map.server.explainAcl, cidrs('10.0.0.0/8', '2001:db8::/32', '192.0.2.1/32'));
    assert.deepEqual(map.server.chaosAcl, cidrs('127.0.0.0/8'), 'an IPv4-mapped network is stored as IPv4');
  });

  test('version: hidden and an empty explain_acl', () => {
    const map = load(withServer('  version: hidden\n  explain_acl: []\n'));
    assert.equal(map.server.version, null);
    assert.deepEqual(map.server.explainAcl, []);
  });

  test('bad values are reported with file:line:col and path', () => {
    const text = withServer('  explain_acl: [10.0.0.1/8, nope]\n  chaos_acl: 10.0.0.0/8\n  version: ""\n  colour: blue\n');
    const line = SAMPLE.split('\n').indexOf(SERVER_BLOCK.trimEnd()) + 2; // first added line
    assert.deepEqual(issues(text).sort(), [
      `${SAMPLE_PATH}:${line + 3}:3: server.colour: unknown key "colour" (allowed: id, version, explain_acl, chaos_acl, rrl)`,
      `${SAMPLE_PATH}:${line}:17: server.explain_acl[0]: bad CIDR "10.0.0.1/8": host bits set after /8 (did you mean 10.0.0.0/8?)`,
      `${SAMPLE_PATH}:${line}:29: server.explain_acl[1]: bad CIDR "nope": "nope" is not an IPv4 or IPv6 address`,
      `${SAMPLE_PATH}:${line + 1}:14: server.chaos_acl: expected a list, found string "10.0.0.0/8"`,
      `${SAMPLE_PATH}:${line + 2}:12: server.version: "" must be 1-255 printable ASCII characters (it is sent as a TXT string and in NSID)`,
    ].sort());
  });

  test('an id that cannot be a TXT string is rejected', () => {
    const long = 'a'.repeat(256);
    assert.match(issues(SAMPLE.replace(SERVER_BLOCK, `  id: ${long}\n`)).join('\n'), /server\.id: "a+" must be 1-255 printable ASCII/);
    assert.match(issues(SAMPLE.replace(SERVER_BLOCK, '  id: "ns1\\u00e9"\n')).join('\n'), /server\.id: .* must be 1-255 printable ASCII/);
  });
});

describe('DebugAnswers', () => {
  const health = null as unknown as HealthView;
  const router = null as unknown as Router;
  const txtOf = (a: PreparedAnswer): string[] => {
    const out: string[] = [];
    let off = 0;
    for (let i = 0; i < a.an; i++) {
      const rdlen = a.body.readUInt16BE(off + 10);
      let p = off + 12;
      const strings: string[] = [];
      while (p < off + 12 + rdlen) {
        strings.push(a.body.toString('latin1', p + 1, p + 1 + a.body[p]));
        p += 1 + a.body[p];
      }
      out.push(strings.join(''));
      off += 12 + rdlen;
    }
    return out;
  };

  test('CH TXT id.server / hostname.bind / version.bind / version.server, TXT or ANY; other types empty NOERROR', () => {
    const d = new DebugAnswers(load(withServer('  version: v1\n')));
    for (const n of ['id.server', 'hostname.bind']) assert.deepEqual(txtOf(d.chaos(query(n, 16, 3), '192.0.2.1')), ['ns1.example.com']);
    for (const n of ['version.bind', 'version.server']) assert.deepEqual(txtOf(d.chaos(query(n, 255, 3), '192.0.2.1')), ['v1']);
    const a = d.chaos(query('id.server', 16, 3), '8.8.8.8');
    assert.deepEqual([a.rcode, a.aa, a.body.readUInt16BE(4)], [RCODE.NOERROR, true, 3], 'class CH in the record');
    const nodata = d.chaos(query('id.server', 1, 3), '8.8.8.8');
    assert.deepEqual([nodata.rcode, nodata.aa, nodata.an], [RCODE.NOERROR, true, 0]);
    assert.equal(d.chaos(query('authors.bind', 16, 3), '8.8.8.8'), REFUSED);
  });

  test('hidden version and chaos_acl refuse', () => {
    const d = new DebugAnswers(load(withServer('  version: hidden\n  chaos_acl: [192.0.2.0/24]\n')));
    assert.equal(d.chaos(query('version.bind', 16, 3), '192.0.2.1'), REFUSED);
    assert.equal(d.chaos(query('id.server', 16, 3), '198.51.100.1'), REFUSED);
    assert.deepEqual(txtOf(d.chaos(query('id.server', 16, 3), '192.0.2.1')), ['ns1.example.com']);
  });

  test('_explain: a source outside explain_acl and a name outside every zone are REFUSED before any lookup', () => {
    const d = new DebugAnswers(load(SAMPLE));
    assert.equal(d.explain(query('_explain.www.example.com', 16), '8.8.8.8', router, health), REFUSED);
    assert.equal(d.explain(query('_explain.www.example.org', 16), '127.0.0.1', router, health), REFUSED);
  });

  test('_explain with another type: NODATA, the zone SOA at TTL 0 owned by a pointer into the question', () => {
    const d = new DebugAnswers(load(SAMPLE));
    const q = query('_explain.www.example.com', 1);
    const a = d.explain(q, '127.0.0.1', router, health);
    assert.deepEqual([a.rcode, a.aa, a.an, a.ns], [RCODE.NOERROR, true, 0, 1]);
    // "example.com" starts after the 9-byte "_explain" label and the 4-byte "www" label.
    assert.equal(a.body.readUInt16BE(0), 0xc000 | (12 + 9 + 4));
    assert.equal(q.buf.toString('latin1', 12 + 13 + 1, 12 + 13 + 8), 'example');
    assert.deepEqual([a.body.readUInt16BE(2), a.body.readUInt32BE(6)], [6, 0]);
  });
});

describe('NSID in the OPT record', () => {
  const id = Buffer.from('ns1.example.com');
  const answer: PreparedAnswer = { rcode: 0, aa: true, an: 0, ns: 0, ar: 0, body: Buffer.alloc(0), minimal: null, signed: null };
  /** The OPT options of a reply whose only additional record is our OPT, at the end. */
  const optOptions = (out: Buffer, q: Query, bodyLength = 0): Map<number, Buffer> => {
    let off = q.questionEnd + bodyLength;
    assert.equal(out.readUInt16BE(off + 1), 41);
    const end = off + 11 + out.readUInt16BE(off + 9);
    assert.equal(end, out.length);
    const opts = new Map<number, Buffer>();
    for (off += 11; off < end; ) {
      const len = out.readUInt16BE(off + 2);
      opts.set(out.readUInt16BE(off), out.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    return opts;
  };

  test('parseQuery sets q.nsid only when the option is there', () => {
    assert.equal(query('www.example.com', 1, 1, { nsid: true }).nsid, true);
    assert.equal(query('www.example.com', 1, 1, {}).nsid, false);
    const q = query('www.example.com', 1, 1, { nsid: true });
    parseQuery(buildQuery({ name: 'www.example.com' }), q);
    assert.equal(q.nsid, false, 'reset between queries');
  });

  test('buildResponse and buildError add NSID with the id; without it the OPT is unchanged', () => {
    const q = query('www.example.com', 1, 1, { nsid: true });
    assert.deepEqual(optOptions(buildResponse(q, answer, 1232, id), q).get(3), id);
    assert.deepEqual(optOptions(buildError(q, RCODE.REFUSED, id), q).get(3), id);
    assert.deepEqual(optOptions(buildError(q, RCODE.FORMERR, id), q).get(3), id);
    assert.equal(optOptions(buildResponse(q, answer, 1232), q).size, 0);
  });

  test('a truncated reply keeps NSID; the size check counts it', () => {
    const q = query('www.example.com', 1, 1, { nsid: true });
    const qlen = q.questionEnd - 12;
    // Fits exactly without NSID, one byte too many with it: must truncate.
    const body = Buffer.alloc(512 - 12 - qlen - 11);
    const big: PreparedAnswer = { ...answer, an: 1, body };
    assert.equal(buildResponse(q, big, 512)[2] & 0x02, 0);
    const tc = buildResponse(q, big, 512, id);
    assert.equal(tc[2] & 0x02, 0x02);
    assert.deepEqual(optOptions(tc, q).get(3), id);
  });
});
