import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { mulberry32, type Rng } from '../fuzz/mutators';
import { dig } from '../helpers/dig';
import { udpExchange } from '../helpers/packet';
import { startServer, type TestServer } from '../helpers/server';

// Names are label sequences (issue 16 section 1): a dot, backslash, NUL or
// high byte inside a label is part of that label, never a boundary, and only
// ASCII letters fold. Replies are read back by an independent parser
// (dnspython, test/helpers/dns-parse.py) that works on label bytes, so a
// wrong compression pointer or a mis-split name shows up as a wrong label.

const PARSER = resolve(__dirname, '../../../test/helpers/dns-parse.py');
// Debian's interpreter, where python3-dnspython installs (a pyenv shim on PATH may not have it).
const PYTHON = '/usr/bin/python3';

let s: TestServer;
before(async () => {
  s = await startServer();
});
after(async () => {
  await s.close();
});

describe('escaped dots from dig', () => {
  test('www\\.example\\.com. (one label) is outside every zone: REFUSED', async () => {
    const r = await dig(s.port, ['www\\.example\\.com.', 'A']);
    assert.equal(r.status, 'REFUSED');
    assert.deepEqual(r.answer, []);
  });

  test('_sip\\._udp.example.com. SRV is another name than _sip._udp: NXDOMAIN with the zone SOA', async () => {
    const r = await dig(s.port, ['_sip\\._udp.example.com.', 'SRV']);
    assert.equal(r.status, 'NXDOMAIN');
    assert.deepEqual(r.answer, []);
    assert.equal(r.authority.length, 1);
    assert.equal(r.authority[0][0], 'example.com.');
    assert.equal(r.authority[0][3], 'SOA');
    // The real name still gets its SRV.
    const real = await dig(s.port, ['_sip._udp.example.com.', 'SRV']);
    assert.equal(real.status, 'NOERROR');
    assert.deepEqual(real.answer.map((a) => a.slice(4)), [['10', '60', '5060', 'sip.example.com.']]);
  });

  test('example\\.com. SOA is REFUSED, and the apex SOA names come back uncorrupted', async () => {
    const r = await dig(s.port, ['example\\.com.', 'SOA']);
    assert.equal(r.status, 'REFUSED');
    assert.deepEqual(r.answer, []);
    const apex = await dig(s.port, ['EXAMPLE.com.', 'SOA']);
    assert.equal(apex.status, 'NOERROR');
    assert.deepEqual(apex.answer[0].slice(4, 6).map((n) => n.toLowerCase()), ['ns1.example.com.', 'hostmaster.example.com.']);
  });
});

describe('debugging names compare labels too', () => {
  test('_explain\\.www.example.com is an ordinary (missing) name, not an explanation', async () => {
    const real = await dig(s.port, ['_explain.www.example.com.', 'TXT']);
    assert.equal(real.status, 'NOERROR');
    assert.ok(real.answer.length > 0);
    const r = await dig(s.port, ['_explain\\.www.example.com.', 'TXT']);
    assert.equal(r.status, 'NXDOMAIN');
    assert.deepEqual(r.answer, []);
  });

  test('CHAOS id\\.server is not id.server', async () => {
    const real = await dig(s.port, ['id.server.', 'CH', 'TXT']);
    assert.equal(real.status, 'NOERROR');
    assert.equal(real.answer.length, 1);
    assert.equal((await dig(s.port, ['id\\.server.', 'CH', 'TXT'])).status, 'REFUSED');
  });
});

// ---- the property test -------------------------------------------------

/** What the sample map (geodata/map.yaml) holds in example.com, as label lists. */
const ZONE = ['example', 'com'];
const KNOWN: string[][] = [
  [],
  ['ns1'],
  ['ns2'],
  ['mail'],
  ['api'],
  ['_sip', '_udp'],
  ['_udp'], // empty non-terminal
  ['sip'],
  ['www'],
].map((l) => [...l, ...ZONE]);
/** Names that may appear in replies (owners and RDATA) besides the query's own. */
const ALLOWED = new Set([...KNOWN, ['hostmaster', ...ZONE]].map((l) => l.map((x) => Buffer.from(x).toString('hex')).join('/')));
const QTYPES = [1, 28, 6, 2, 15, 33, 16, 5, 257];

/** ASCII-only case folding (RFC 4343), on bytes. */
function fold(label: Buffer): Buffer {
  return Buffer.from(label.map((c) => (c >= 0x41 && c <= 0x5a ? c + 32 : c)));
}

const keyOf = (labels: Buffer[]): string => labels.map((l) => fold(l).toString('hex')).join('/');
const hexLabels = (labels: Buffer[]): string[] => labels.map((l) => l.toString('hex'));
const foldHex = (hex: string[]): string => hex.map((h) => fold(Buffer.from(h, 'hex')).toString('hex')).join('/');

function query(id: number, labels: Buffer[], qtype: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(1, 10);
  const name = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), l])), Buffer.from([0])]);
  const tail = Buffer.alloc(4 + 11);
  tail.writeUInt16BE(qtype, 0);
  tail.writeUInt16BE(1, 2);
  tail.writeUInt16BE(41, 5); // OPT: root owner at tail[4], type, then UDP size 1232
  tail.writeUInt16BE(1232, 7);
  return Buffer.concat([h, name, tail]);
}

const SPECIAL = [0x2e, 0x5c, 0x00, 0xff, 0x20, 0x7f];

/** A name near the zone's names: case flipped, labels merged with a 0x2E byte, odd bytes put in, labels added. */
function mutate(rnd: Rng): Buffer[] {
  const labels = rnd.pick(KNOWN).map((l) => Buffer.from(l, 'latin1'));
  const op = rnd.int(6);
  if (op === 1 && labels.length > 1) {
    // Two neighbours become one label with a dot inside (`_sip\._udp`, `example\.com`).
    const i = rnd.int(labels.length - 1);
    labels.splice(i, 2, Buffer.concat([labels[i], Buffer.from([0x2e]), labels[i + 1]]));
  } else if (op === 2) {
    const i = rnd.int(labels.length);
    const at = rnd.int(labels[i].length + 1);
    const odd = rnd.chance(0.8) ? rnd.pick(SPECIAL) : 0xc0 + rnd.int(0x3f); // latin1 letters must not fold
    labels[i] = Buffer.concat([labels[i].subarray(0, at), Buffer.from([odd]), labels[i].subarray(at)]);
  } else if (op === 3) {
    const extra = Buffer.from(Array.from({ length: 1 + rnd.int(8) }, () => (rnd.chance(0.3) ? rnd.pick(SPECIAL) : 0x61 + rnd.int(26))));
    labels.unshift(extra);
  } else if (op === 4) {
    // A label of only escapes-to-be: `\.` `\\` `\000`.
    labels.unshift(Buffer.from([0x5c, 0x2e, 0x00, 0x5c]));
  }
  // Mixed case on top of whatever was done.
  return labels.map((l) => Buffer.from(l.map((c) => (c >= 0x61 && c <= 0x7a && rnd.chance(0.4) ? c - 32 : c))));
}

interface ParsedRr {
  owner: string[];
  type: string;
  names: string[][];
  text: string;
}
interface Parsed {
  error?: string;
  rcode: number;
  aa: boolean;
  question: string[];
  answer: ParsedRr[];
  authority: ParsedRr[];
  additional: ParsedRr[];
}

function parseAll(replies: Buffer[]): Parsed[] {
  const out = execFileSync(PYTHON, [PARSER], { input: replies.map((r) => r.toString('hex')).join('\n') + '\n', encoding: 'utf8' });
  return out.trim().split('\n').map((l) => JSON.parse(l) as Parsed);
}

/** A section as comparable lines: folded owner, type, RDATA text (lower-cased: names may carry the question's case). */
function lines(rrs: ParsedRr[]): string[] {
  return rrs.map((r) => `${foldHex(r.owner)} ${r.type} ${r.text.toLowerCase()}`).sort();
}

test('random labels with dots, backslashes, NUL, 0xFF and mixed case: every reply names only what the zone holds', async () => {
  const rnd = mulberry32(0x16_01); // seeded: a failure names its case and reproduces
  const cases: Array<{ labels: Buffer[]; qtype: number }> = [];
  for (let i = 0; i < 400; i++) cases.push({ labels: mutate(rnd), qtype: QTYPES[rnd.int(QTYPES.length)] });
  // The reference answers: every known name in lower case, for every type.
  const refs: Array<{ labels: Buffer[]; qtype: number }> = [];
  for (const k of KNOWN) for (const qtype of QTYPES) refs.push({ labels: k.map((l) => Buffer.from(l)), qtype });

  const all = [...refs, ...cases];
  const replies: Buffer[] = [];
  for (let i = 0; i < all.length; i++) {
    const r = await udpExchange(s.port, query(i & 0xffff, all[i].labels, all[i].qtype));
    assert.ok(r, `no reply to case ${i}`);
    replies.push(r);
  }
  const parsed = parseAll(replies);
  assert.equal(parsed.length, all.length);
  const refByKey = new Map<string, Parsed>();
  refs.forEach((r, i) => refByKey.set(`${keyOf(r.labels)} ${r.qtype}`, parsed[i]));

  let exact = 0;
  let nx = 0;
  let refused = 0;
  for (let i = 0; i < all.length; i++) {
    const c = all[i];
    const p = parsed[i];
    const what = `case ${i}: ${JSON.stringify(hexLabels(c.labels))} type ${c.qtype}`;
    assert.equal(p.error, undefined, `${what}: dnspython could not parse the reply: ${p.error}`);
    // The question comes back byte for byte.
    assert.deepEqual(p.question, hexLabels(c.labels), what);
    // Every name in the reply is the query's own or one the zone holds.
    const own = keyOf(c.labels);
    for (const rr of [...p.answer, ...p.authority, ...p.additional]) {
      for (const n of [rr.owner, ...rr.names]) {
        const k = foldHex(n);
        assert.ok(k === own || ALLOWED.has(k), `${what}: reply names ${JSON.stringify(n)}, which the zone does not hold`);
      }
    }
    const ref = refByKey.get(`${own} ${c.qtype}`);
    const folded = c.labels.map((l) => fold(l).toString('latin1'));
    if (ref) {
      exact++;
      assert.equal(p.rcode, ref.rcode, what);
      assert.deepEqual(lines(p.answer), lines(ref.answer), what);
      assert.deepEqual(lines(p.authority), lines(ref.authority), what);
    } else if (folded.length >= 2 && folded.slice(-2).join('/') === ZONE.join('/')) {
      nx++;
      assert.equal(p.rcode, 3, `${what}: in the zone but not a name it holds: NXDOMAIN`);
      assert.deepEqual(p.answer, [], what);
      assert.equal(p.authority.length, 1, what);
      assert.equal(p.authority[0].type, 'SOA', what);
      assert.equal(foldHex(p.authority[0].owner), keyOf(ZONE.map((l) => Buffer.from(l))), what);
    } else {
      refused++;
      assert.equal(p.rcode, 5, `${what}: outside every zone: REFUSED`);
      assert.deepEqual([...p.answer, ...p.authority], [], what);
    }
  }
  // The generator reached every kind of outcome (else the test proves little).
  assert.ok(exact > refs.length + 20 && nx > 50 && refused > 10, `exact ${exact}, nxdomain ${nx}, refused ${refused}`);
});
