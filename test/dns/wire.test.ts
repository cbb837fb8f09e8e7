import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParseResult, parseQuery, Query } from '../../src/dns/wire';
import { buildQuery, ecsOption } from '../helpers/packet';

// Unit tests of the query parser: no sockets, every byte built by hand.

interface Parsed {
  r: ParseResult;
  q: Query;
}

function parse(buf: Buffer, q = new Query()): Parsed {
  return { r: parseQuery(buf, q), q };
}

/** Asserts FORMERR and that the reason mentions `why`. */
function formerr(buf: Buffer, why: RegExp): Query {
  const { r, q } = parse(buf);
  assert.equal(r, ParseResult.FORMERR, `expected FORMERR, got ${r} (${q.error})`);
  assert.match(q.error, why);
  return q;
}

function header(o: { id?: number; b2?: number; qd?: number; an?: number; ns?: number; ar?: number } = {}): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(o.id ?? 0x4242, 0);
  h[2] = o.b2 ?? 0x01;
  h.writeUInt16BE(o.qd ?? 1, 4);
  h.writeUInt16BE(o.an ?? 0, 6);
  h.writeUInt16BE(o.ns ?? 0, 8);
  h.writeUInt16BE(o.ar ?? 0, 10);
  return h;
}

/** Wire name from labels (no compression), ending with the root byte. */
function wireName(...labels: string[]): Buffer {
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}

/** Question: www.example.com A IN. */
const QUESTION = Buffer.concat([wireName('www', 'example', 'com'), u16(1), u16(1)]);

/** A resource record with an already-encoded owner. */
function rr(owner: Buffer, type: number, rdata: Buffer, rdlen = rdata.length, ttl = Buffer.alloc(4), klass = 1): Buffer {
  return Buffer.concat([owner, u16(type), u16(klass), ttl, u16(rdlen), rdata]);
}

function option(code: number, data: Buffer): Buffer {
  return Buffer.concat([u16(code), u16(data.length), data]);
}

/** ECS option data built byte by byte (family, source, scope, address). */
function ecs(family: number, source: number, addr: number[], scope = 0): Buffer {
  return option(8, Buffer.concat([u16(family), Buffer.from([source, scope]), Buffer.from(addr)]));
}

/** OPT record with a root owner. */
function opt(options: Buffer[] = [], o: { udpSize?: number; version?: number; owner?: Buffer; rdlen?: number } = {}): Buffer {
  const rdata = Buffer.concat(options);
  const ttl = Buffer.from([0, o.version ?? 0, 0, 0]);
  return rr(o.owner ?? Buffer.from([0]), 41, rdata, o.rdlen ?? rdata.length, ttl, o.udpSize ?? 1232);
}

/** A query for www.example.com A with the given additional records. */
function withAdditional(...records: Buffer[]): Buffer {
  return Buffer.concat([header({ ar: records.length }), QUESTION, ...records]);
}

test('a plain query parses: id, lower-cased qname, qtype, qclass, RD and the question end', () => {
  const { r, q } = parse(buildQuery({ id: 0xbeef, name: 'WWW.Example.COM', type: 28, rd: true }));
  assert.equal(r, ParseResult.OK);
  assert.equal(q.id, 0xbeef);
  assert.equal(q.qname, 'www.example.com');
  assert.equal(q.qtype, 28);
  assert.equal(q.qclass, 1);
  assert.equal(q.rd, true);
  assert.equal(q.cd, false);
  assert.equal(q.opcode, 0);
  assert.equal(q.hasQuestion, true);
  assert.equal(q.questionEnd, 12 + 17 + 4);
  assert.equal(q.edns, false);
  assert.equal(q.ecs, null);
});

test('RD clear and CD set are read from the header', () => {
  const buf = buildQuery({ name: 'www.example.com' });
  buf[3] = 0x10;
  const { r, q } = parse(buf);
  assert.equal(r, ParseResult.OK);
  assert.equal(q.rd, false);
  assert.equal(q.cd, true);
});

test('a query for the root name parses with an empty qname', () => {
  const { r, q } = parse(buildQuery({ name: '.', type: 2 }));
  assert.equal(r, ParseResult.OK);
  assert.equal(q.qname, '');
  assert.equal(q.questionEnd, 12 + 1 + 4);
});

test('an OPT record is parsed: UDP size, DO bit and version 0', () => {
  const { r, q } = parse(buildQuery({ name: 'www.example.com', edns: { udpSize: 4096, dnssecOk: true } }));
  assert.equal(r, ParseResult.OK);
  assert.equal(q.edns, true);
  assert.equal(q.udpSize, 4096);
  assert.equal(q.dnssecOk, true);
  assert.equal(q.ednsVersion, 0);
  assert.equal(q.ecs, null);
});

test('ECS for an IPv4 /24 is parsed: family, source prefix and three address bytes', () => {
  const { r, q } = parse(buildQuery({ name: 'www.example.com', edns: { options: [ecsOption('192.0.2.77', 24)] } }));
  assert.equal(r, ParseResult.OK, q.error);
  assert.ok(q.ecs);
  assert.equal(q.ecs.family, 1);
  assert.equal(q.ecs.sourcePrefix, 24);
  assert.equal(q.ecs.scopePrefix, 0);
  assert.equal(q.ecs.addrLength, 3);
  assert.deepEqual([...q.ecs.address], [192, 0, 2, 0]);
  assert.deepEqual([...q.buf.subarray(q.ecs.addrOffset, q.ecs.addrOffset + q.ecs.addrLength)], [192, 0, 2]);
});

test('ECS for an IPv6 /56 (7 address bytes, an odd length) is parsed and the next option is still read', () => {
  const buf = buildQuery({
    name: 'www.example.com',
    edns: { dnssecOk: true, options: [ecsOption('2001:db8:1234:5600::', 56), { code: 10, data: Buffer.alloc(8, 7) }] },
  });
  const { r, q } = parse(buf);
  assert.equal(r, ParseResult.OK, q.error);
  assert.ok(q.ecs);
  assert.equal(q.ecs.family, 2);
  assert.equal(q.ecs.sourcePrefix, 56);
  assert.equal(q.ecs.addrLength, 7);
  assert.deepEqual([...q.ecs.address], [0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(q.dnssecOk, true);
});

test('ECS with source /0 and no address bytes is accepted', () => {
  for (const family of [1, 2]) {
    const { r, q } = parse(withAdditional(opt([ecs(family, 0, [])])));
    assert.equal(r, ParseResult.OK, q.error);
    assert.ok(q.ecs);
    assert.equal(q.ecs.family, family);
    assert.equal(q.ecs.sourcePrefix, 0);
    assert.equal(q.ecs.addrLength, 0);
    assert.ok(q.ecs.address.every((b) => b === 0));
  }
});

test('ECS at the full length (/32 IPv4, /128 IPv6) is accepted', () => {
  assert.equal(parse(withAdditional(opt([ecs(1, 32, [10, 1, 2, 3])]))).r, ParseResult.OK);
  assert.equal(parse(withAdditional(opt([ecs(2, 128, new Array(16).fill(0xab))]))).r, ParseResult.OK);
});

test('a reused Query object forgets the previous ECS, OPT and error', () => {
  const q = new Query();
  assert.equal(parseQuery(withAdditional(opt([ecs(1, 33, [1, 2, 3, 4, 5])])), q), ParseResult.FORMERR);
  assert.equal(parseQuery(withAdditional(opt([ecs(2, 48, [0x20, 1, 0xd, 0xb8, 0, 1])])), q), ParseResult.OK);
  assert.equal(q.ecs?.address.length, 16);
  assert.equal(parseQuery(withAdditional(opt([ecs(1, 24, [192, 0, 2])])), q), ParseResult.OK);
  assert.deepEqual([...(q.ecs?.address ?? [])], [192, 0, 2, 0]);
  assert.equal(parseQuery(buildQuery({ name: 'Mail.example.com' }), q), ParseResult.OK);
  assert.equal(q.edns, false);
  assert.equal(q.ecs, null);
  assert.equal(q.error, '');
  assert.equal(q.qname, 'mail.example.com');
});

test('FORMERR: ECS source prefix /33 for IPv4', () => {
  formerr(withAdditional(opt([ecs(1, 33, [1, 2, 3, 4, 0])])), /source prefix \/33/);
});

test('FORMERR: ECS source prefix /129 for IPv6', () => {
  formerr(withAdditional(opt([ecs(2, 129, new Array(17).fill(0))])), /source prefix \/129/);
});

test('FORMERR: ECS with a nonzero scope prefix in a query', () => {
  formerr(withAdditional(opt([ecs(1, 24, [192, 0, 2], 24)])), /scope/);
  formerr(withAdditional(opt([ecs(1, 0, [], 1)])), /scope/);
});

test('FORMERR: ECS address length not matching the source prefix', () => {
  formerr(withAdditional(opt([ecs(1, 24, [192, 0, 2, 0])])), /address has 4 bytes/); // too many
  formerr(withAdditional(opt([ecs(1, 24, [192, 0])])), /address has 2 bytes/); // too few
  formerr(withAdditional(opt([ecs(2, 56, [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0])])), /address has 8 bytes/);
  formerr(withAdditional(opt([ecs(1, 0, [0])])), /address has 1 bytes/);
});

test('FORMERR: ECS address bits set past the source prefix', () => {
  formerr(withAdditional(opt([ecs(1, 23, [192, 0, 3])])), /past the source prefix/);
  formerr(withAdditional(opt([ecs(2, 57, [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0x40])])), /past the source prefix/);
  // The same prefixes with clean trailing bits are fine.
  assert.equal(parse(withAdditional(opt([ecs(1, 23, [192, 0, 2])]))).r, ParseResult.OK);
  assert.equal(parse(withAdditional(opt([ecs(2, 57, [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0x80])]))).r, ParseResult.OK);
});

test('FORMERR: ECS with an unknown address family', () => {
  formerr(withAdditional(opt([ecs(3, 8, [10])])), /family 3/);
  formerr(withAdditional(opt([ecs(0, 0, [])])), /family 0/);
});

test('FORMERR: ECS option shorter than its fixed part', () => {
  formerr(withAdditional(opt([option(8, Buffer.from([0, 1, 24]))])), /shorter/);
});

test('FORMERR: two ECS options in one OPT', () => {
  formerr(withAdditional(opt([ecs(1, 24, [192, 0, 2]), ecs(1, 24, [192, 0, 2])])), /more than one ECS/);
});

test('FORMERR: two OPT records', () => {
  formerr(withAdditional(opt(), opt()), /more than one OPT/);
});

test('FORMERR: an OPT record whose owner is not the root', () => {
  formerr(withAdditional(opt([], { owner: wireName('a') })), /OPT owner/);
  // A compression pointer to a root byte is still not the literal root owner.
  const rootAt = 12 + QUESTION.length - 5; // the root byte ending www.example.com
  formerr(withAdditional(opt([], { owner: Buffer.from([0xc0, rootAt]) })), /OPT owner/);
});

test('FORMERR: an EDNS option running past the OPT data', () => {
  const data = ecs(1, 24, [192, 0, 2]);
  formerr(withAdditional(opt([data.subarray(0, data.length - 1)])), /option longer/);
  formerr(withAdditional(opt([Buffer.from([0, 8, 0])])), /truncated EDNS option/);
});

test('FORMERR: QDCOUNT 0', () => {
  const q = formerr(header({ qd: 0 }), /QDCOUNT 0/);
  assert.equal(q.hasQuestion, false);
  assert.equal(q.id, 0x4242);
});

test('FORMERR: QDCOUNT 2', () => {
  formerr(Buffer.concat([header({ qd: 2 }), QUESTION, QUESTION]), /QDCOUNT 2/);
});

test('FORMERR: a compression pointer in the question', () => {
  formerr(Buffer.concat([header(), Buffer.from([0xc0, 0x0c]), u16(1), u16(1)]), /question/);
  // After a label, pointing back at the first label.
  formerr(Buffer.concat([header(), Buffer.from([3, 0x77, 0x77, 0x77, 0xc0, 0x0c]), u16(1), u16(1)]), /question/);
  // The reserved label types 0x40 and 0x80 are no better.
  formerr(Buffer.concat([header(), Buffer.from([0x41, 0]), u16(1), u16(1)]), /question/);
});

test('FORMERR: a label longer than 63 bytes', () => {
  const ok = Buffer.concat([header(), wireName('a'.repeat(63), 'com'), u16(1), u16(1)]);
  assert.equal(parse(ok).r, ParseResult.OK);
  const q = formerr(Buffer.concat([header(), wireName('a'.repeat(64), 'com'), u16(1), u16(1)]), /question/);
  assert.equal(q.hasQuestion, false);
});

test('FORMERR: a name longer than 255 bytes; exactly 255 is accepted', () => {
  const l63 = 'a'.repeat(63);
  // 3 * (1 + 63) + (1 + 61) + 1 = 255 bytes on the wire.
  const max = parse(Buffer.concat([header(), wireName(l63, l63, l63, 'b'.repeat(61)), u16(1), u16(1)]));
  assert.equal(max.r, ParseResult.OK);
  assert.equal(max.q.qname.length, 253);
  formerr(Buffer.concat([header(), wireName(l63, l63, l63, 'b'.repeat(62)), u16(1), u16(1)]), /question/);
  formerr(Buffer.concat([header(), wireName(l63, l63, l63, l63, l63), u16(1), u16(1)]), /question/);
});

test('FORMERR: a truncated question (every cut inside name, type or class)', () => {
  const full = buildQuery({ name: 'www.example.com' });
  for (let len = 12; len < full.length; len++) {
    const q = formerr(full.subarray(0, len), /malformed question/);
    assert.equal(q.hasQuestion, false);
  }
});

test('FORMERR: ANCOUNT, NSCOUNT or ARCOUNT promising records that are not there', () => {
  formerr(Buffer.concat([header({ an: 1 }), QUESTION]), /answer\/authority/);
  formerr(Buffer.concat([header({ ns: 3 }), QUESTION]), /answer\/authority/);
  formerr(Buffer.concat([header({ ar: 1 }), QUESTION]), /additional/);
  formerr(Buffer.concat([header({ ar: 2 }), QUESTION, opt()]), /additional/);
  formerr(Buffer.concat([header({ ar: 0xffff }), QUESTION, opt()]), /additional/);
});

test('FORMERR: a record whose RDLENGTH runs past the end', () => {
  formerr(withAdditional(rr(Buffer.from([0]), 1, Buffer.from([1, 2, 3, 4]), 100)), /past end/);
  formerr(withAdditional(opt([], { rdlen: 1 })), /past end/);
  const answer = rr(Buffer.from([0xc0, 12]), 1, Buffer.from([1, 2]), 4);
  formerr(Buffer.concat([header({ an: 1 }), QUESTION, answer]), /past end/);
});

test('FORMERR: trailing bytes after the last record', () => {
  formerr(Buffer.concat([buildQuery({ name: 'www.example.com' }), Buffer.from([0])]), /trailing/);
  formerr(Buffer.concat([buildQuery({ name: 'www.example.com', edns: {} }), Buffer.from([1, 2, 3])]), /trailing/);
});

test('records in the answer and authority sections of a query are skipped', () => {
  const a = rr(Buffer.from([0xc0, 12]), 1, Buffer.from([192, 0, 2, 1]));
  const ns = rr(wireName('example', 'com'), 2, wireName('ns1', 'example', 'com'));
  const { r, q } = parse(Buffer.concat([header({ an: 1, ns: 1, ar: 1 }), QUESTION, a, ns, opt([], { udpSize: 1400 })]));
  assert.equal(r, ParseResult.OK, q.error);
  assert.equal(q.edns, true);
  assert.equal(q.udpSize, 1400);
});

test('DROP: fewer than 12 bytes', () => {
  for (let len = 0; len < 12; len++) {
    assert.equal(parse(buildQuery({ name: 'www.example.com' }).subarray(0, len)).r, ParseResult.DROP);
  }
});

test('DROP: QR=1 (a response), whatever follows', () => {
  const buf = buildQuery({ name: 'www.example.com' });
  buf[2] |= 0x80;
  assert.equal(parse(buf).r, ParseResult.DROP);
  assert.equal(parse(Buffer.from([0, 1, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])).r, ParseResult.DROP);
});

test('NOTIMP: opcode 4 (NOTIFY) and opcode 2 (STATUS), with the question kept', () => {
  for (const opcode of [4, 2]) {
    const { r, q } = parse(buildQuery({ name: 'www.example.com', type: 6, opcode }));
    assert.equal(r, ParseResult.NOTIMP);
    assert.equal(q.opcode, opcode);
    assert.equal(q.hasQuestion, true);
    assert.equal(q.qname, 'www.example.com');
  }
  // Without a question (QDCOUNT 0) still NOTIMP, not FORMERR.
  assert.equal(parse(header({ b2: 4 << 3, qd: 0 })).r, ParseResult.NOTIMP);
});

test('BADVERS: EDNS version 1', () => {
  const { r, q } = parse(buildQuery({ name: 'www.example.com', edns: { version: 1, options: [ecsOption('192.0.2.0', 24)] } }));
  assert.equal(r, ParseResult.BADVERS);
  assert.equal(q.edns, true);
  assert.equal(q.ednsVersion, 1);
  assert.equal(q.hasQuestion, true);
});

test('a compression loop in an additional record name is FORMERR, not a hang', () => {
  const base = 12 + QUESTION.length;
  const loops = [
    Buffer.from([0xc0, base]), // points at itself
    Buffer.from([0xc0, base + 2]), // points forward
    Buffer.from([1, 0x61, 0xc0, base]), // label then back to that label, forever
    Buffer.from([1, 0x61, 0xc0, base + 4, 0xc0, base + 2]), // two pointers at each other
    Buffer.from([0xc0]), // pointer cut in half at the end of the message
  ];
  for (const owner of loops) {
    const start = process.hrtime.bigint();
    formerr(withAdditional(rr(owner, 1, Buffer.from([1, 2, 3, 4]))), /additional/);
    assert.ok(process.hrtime.bigint() - start < 50_000_000n, 'parser took too long');
  }
  // A long chain of backwards pointers is bounded (64 jumps), and a chain within the bound is fine.
  for (const [n, expected] of [[63, ParseResult.OK], [64, ParseResult.FORMERR], [500, ParseResult.FORMERR]] as const) {
    const r0 = base + 11; // rdata of the first additional record (root owner + 10 fixed bytes)
    const chain: Buffer[] = [Buffer.from([0])];
    for (let i = 1; i <= n; i++) chain.push(u16(0xc000 | (i === 1 ? r0 : r0 + 1 + 2 * (i - 2))));
    const holder = rr(Buffer.from([0]), 99, Buffer.concat(chain));
    const user = rr(u16(0xc000 | (r0 + 1 + 2 * (n - 1))), 1, Buffer.from([1, 2, 3, 4]));
    assert.equal(parse(withAdditional(holder, user)).r, expected, `chain of ${n}`);
  }
  // A legitimate backwards pointer to the question name is fine.
  const ok = parse(withAdditional(rr(Buffer.from([0xc0, 12]), 1, Buffer.from([192, 0, 2, 1])), opt()));
  assert.equal(ok.r, ParseResult.OK, ok.q.error);
});

test('an unknown EDNS option is ignored', () => {
  const { r, q } = parse(withAdditional(opt([option(10, Buffer.alloc(8, 1)), option(0xfde9, Buffer.alloc(0)), ecs(1, 8, [10])])));
  assert.equal(r, ParseResult.OK, q.error);
  assert.equal(q.ecs?.sourcePrefix, 8);
});

test('the qname key keeps label boundaries: a dot or backslash inside a label is escaped, never a separator', () => {
  const key = (...labels: Buffer[]): string => {
    const name = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), l])), Buffer.from([0])]);
    const { r, q } = parse(Buffer.concat([header(), name, u16(1), u16(1)]));
    assert.equal(r, ParseResult.OK, q.error);
    return q.qname;
  };
  const b = (s: string): Buffer => Buffer.from(s, 'latin1');
  // One label `www.example.com` is not the three labels www, example, com.
  assert.equal(key(b('www.example.com')), 'www\\046example\\046com');
  assert.notEqual(key(b('www.example.com')), key(b('www'), b('example'), b('com')));
  assert.equal(key(b('_sip._udp'), b('example'), b('com')), '_sip\\046_udp.example.com');
  // A literal backslash cannot forge an escape: `a\046b` (6 bytes) differs from `a.b` (3 bytes).
  assert.equal(key(b('a\\046b')), 'a\\092046b');
  assert.notEqual(key(b('a\\046b')), key(b('a.b')));
  // NUL, space, DEL and bytes past 0x7E are escaped; A-Z fold, latin1 letters do not (0xC0 is not 0xE0).
  assert.equal(key(Buffer.from([0x41, 0x00, 0x20, 0x7f, 0xff])), 'a\\000\\032\\127\\255');
  assert.notEqual(key(Buffer.from([0xc0])), key(Buffer.from([0xe0])));
  assert.equal(key(b('WWW'), b('Example'), b('COM')), 'www.example.com');
});

test('FORMERR: an OPT record in the answer or authority section (RFC 6891 6.1.1)', () => {
  const optRr = opt();
  formerr(Buffer.concat([header({ an: 1 }), QUESTION, optRr]), /OPT record outside the additional section/);
  formerr(Buffer.concat([header({ ns: 1 }), QUESTION, optRr]), /OPT record outside the additional section/);
  // The same OPT in the additional section is fine.
  assert.equal(parse(Buffer.concat([header({ ar: 1 }), QUESTION, optRr])).r, ParseResult.OK);
});

test('the question-name cache gives every query the key its own bytes make: hits, 0x20 case, evictions, escapes', () => {
  // Reference key, written from the rules (readQname's comment), not from the parser.
  const keyOf = (labels: Buffer[]): string =>
    labels
      .map((l) => [...l].map((c) => (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c ? String.fromCharCode(c) : '\\' + String(c).padStart(3, '0'))).join(''))
      .join('.')
      .toLowerCase();
  let seed = 99;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
  const alphabet = Buffer.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.\\ \x00\xff');
  // 3,000 names over 1,024 cache slots: many evictions and slot clashes; names that differ only in case or in one escaped byte.
  const pool: Buffer[][] = [];
  for (let i = 0; i < 3000; i++) {
    const labels: Buffer[] = [];
    for (let l = 1 + rnd(4); l > 0; l--) labels.push(Buffer.from(Array.from({ length: 1 + rnd(12) }, () => alphabet[rnd(alphabet.length)])));
    pool.push(labels);
  }
  const q = new Query();
  for (let i = 0; i < 30_000; i++) {
    const labels = pool[rnd(pool.length)].map((l) => Buffer.from([...l].map((c) => (rnd(2) && c >= 0x61 && c <= 0x7a ? c - 0x20 : c)))); // random 0x20 case
    const name = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), l])), Buffer.from([0])]);
    const r = parseQuery(Buffer.concat([header(), name, u16(1), u16(1)]), q);
    assert.equal(r, ParseResult.OK, q.error);
    assert.equal(q.qname, keyOf(labels), `query ${i}`);
    assert.equal(q.questionEnd, 12 + name.length + 4);
  }
});
