import assert from 'node:assert/strict';
import { test } from 'node:test';
import { epochProblem, FUTURE_SKEW_MS, MAX_VALUE_BYTES, parseDrain, parseMessage, parsePrimary, parseVote, typeProblem, type Checked } from '../../src/health/validate';

// The rules each value read from Redis must pass (the e2e test
// test/e2e/store-garbage.test.ts puts the same garbage in a real Redis).

const NOW = 1_800_000_000_000;
const vote = { prober: 'p1', service: 'www.example.com', dc: 'gz', up: false, at: NOW - 100, ttlMs: 5000, detail: 'timeout', latencyMs: 3 };
const drain = { service: 'www.example.com', dc: 'gz', until: NOW + 60_000, at: NOW - 100, reason: 'maintenance', by: 'ops' };
const pointer = { service: 'db.example.com', dc: 'bj', epoch: 3, at: NOW - 100, by: 'probe-a', reason: 'gz down' };

function rejected<T>(r: Checked<T>): { kind: string; reason: string } {
  assert.equal(r.ok, false, `expected a rejection, got ${JSON.stringify(r)}`);
  return r as { kind: string; reason: string };
}

test('well-formed records pass, copied with just their own fields; optional text and numbers get defaults', () => {
  assert.deepEqual(parseVote(JSON.stringify({ ...vote, extra: 'x' }), NOW), { ok: true, value: vote });
  assert.deepEqual(parseDrain(JSON.stringify(drain), NOW), { ok: true, value: drain });
  assert.deepEqual(parsePrimary(JSON.stringify(pointer), NOW), { ok: true, value: pointer });
  const bare: Partial<typeof vote> = { ...vote };
  delete bare.detail;
  delete bare.latencyMs;
  assert.deepEqual(parseVote(JSON.stringify(bare), NOW), { ok: true, value: { ...bare, detail: '', latencyMs: 0 } });
});

test('not JSON, and JSON that is not an object', () => {
  for (const text of ['{not json', '', 'wrongtype', '{"a":1']) assert.equal(rejected(parseVote(text, NOW)).kind, 'not-json', text);
  for (const text of ['null', '42', '"str"', '[1,2]', 'true']) {
    const r = rejected(parseDrain(text, NOW));
    assert.equal(r.kind, 'bad-shape', text);
    assert.match(r.reason, /not an object/);
  }
});

test(`over ${MAX_VALUE_BYTES} bytes is too large, whatever it holds; the limit itself is fine`, () => {
  const big = JSON.stringify({ ...vote, detail: 'x'.repeat(MAX_VALUE_BYTES) });
  const r = rejected(parseVote(big, NOW));
  assert.equal(r.kind, 'too-large');
  assert.match(r.reason, new RegExp(`${Buffer.byteLength(big)} bytes, over the ${MAX_VALUE_BYTES}-byte limit`));
  const fits = JSON.stringify({ ...vote, detail: '' });
  const atLimit = JSON.stringify({ ...vote, detail: 'y'.repeat(MAX_VALUE_BYTES - fits.length) });
  assert.equal(Buffer.byteLength(atLimit), MAX_VALUE_BYTES);
  assert.equal(parseVote(atLimit, NOW).ok, true);
  assert.equal(rejected(parseVote('"' + 'é'.repeat(MAX_VALUE_BYTES / 2) + '"', NOW)).kind, 'too-large', 'bytes, not characters');
});

test('each field is checked for its shape, and the reason names the field', () => {
  const cases: Array<[string, (t: string, n: number) => Checked<unknown>, object, RegExp]> = [
    ['drain until a string', parseDrain, { ...drain, until: 'soon' }, /"until" is a string \("soon"\), not a time/],
    ['drain without dc', parseDrain, { ...drain, dc: undefined }, /"dc" is missing/],
    ['drain with an empty service', parseDrain, { ...drain, service: '' }, /"service" is a string/],
    ['vote up a string', parseVote, { ...vote, up: 'maybe' }, /"up" is a string \("maybe"\), not true or false/],
    ['vote with a state instead of up', parseVote, { ...vote, up: undefined, state: 'weird' }, /"up" is missing/],
    ['vote ttl 0', parseVote, { ...vote, ttlMs: 0 }, /"ttlMs" is a number \(0\), not a duration/],
    ['vote at negative', parseVote, { ...vote, at: -1 }, /"at" is a number/],
    ['vote prober an object', parseVote, { ...vote, prober: { a: 1 } }, /"prober" is an object/],
    ['vote detail a number', parseVote, { ...vote, detail: 5 }, /"detail" is a number \(5\), not a string/],
    ['pointer epoch 1.5', parsePrimary, { ...pointer, epoch: 1.5 }, /"epoch" is a number \(1.5\), not an integer/],
    ['pointer dc null', parsePrimary, { ...pointer, dc: null }, /"dc" is null/],
  ];
  for (const [what, parse, value, reason] of cases) {
    const r = rejected(parse(JSON.stringify(value), NOW));
    assert.equal(r.kind, 'bad-shape', what);
    assert.match(r.reason, reason, what);
  }
});

test(`a record stamped more than ${FUTURE_SKEW_MS} ms past the store clock is from the future`, () => {
  assert.equal(parseVote(JSON.stringify({ ...vote, at: NOW + FUTURE_SKEW_MS }), NOW).ok, true, 'within the skew');
  const r = rejected(parseVote(JSON.stringify({ ...vote, at: NOW + 3_600_000 }), NOW));
  assert.equal(r.kind, 'future');
  assert.match(r.reason, /"at" is 3600 s ahead of the store clock/);
  assert.equal(rejected(parseDrain(JSON.stringify({ ...drain, at: NOW + 10_000 }), NOW)).kind, 'future');
  assert.equal(rejected(parsePrimary(JSON.stringify({ ...pointer, at: NOW + 10_000 }), NOW)).kind, 'future');
  // A drain's `until` is meant to be in the future.
  assert.equal(parseDrain(JSON.stringify({ ...drain, until: NOW + 365 * 86_400_000 }), NOW).ok, true);
});

test('events messages: the envelope and the record inside it are both checked', () => {
  assert.deepEqual(parseMessage(JSON.stringify({ t: 'vote', d: vote }), NOW), { ok: true, value: { t: 'vote', d: vote } });
  assert.deepEqual(parseMessage(JSON.stringify({ t: 'undrain', d: { service: 'x', dc: 'gz' } }), NOW), { ok: true, value: { t: 'undrain', d: { service: 'x', dc: 'gz' } } });
  assert.equal(rejected(parseMessage('garbage', NOW)).kind, 'not-json');
  assert.match(rejected(parseMessage('{"t":"what","d":{}}', NOW)).reason, /"t" is a string \("what"\), not vote, drain, undrain or primary/);
  assert.match(rejected(parseMessage('[]', NOW)).reason, /an array, not an object/);
  assert.match(rejected(parseMessage('{"t":"vote","d":{"prober":1}}', NOW)).reason, /vote message: "d.prober" is a number/);
  assert.match(rejected(parseMessage('{"t":"undrain"}', NOW)).reason, /undrain message: "d" is missing/);
  assert.equal(rejected(parseMessage(JSON.stringify({ t: 'drain', d: { ...drain, at: NOW + 60_000 } }), NOW)).kind, 'future');
  assert.equal(rejected(parseMessage(JSON.stringify({ t: 'primary', d: { ...pointer, detail: 'z'.repeat(MAX_VALUE_BYTES + 100) } }), NOW)).kind, 'too-large');
});

test('key types and the epoch counter', () => {
  assert.equal(typeProblem('none', 'hash'), null);
  assert.equal(typeProblem('hash', 'hash'), null);
  assert.equal(typeProblem('string', 'hash'), 'holds a string, not a hash');
  assert.equal(typeProblem('list', 'string'), 'holds a list, not a string');
  assert.equal(epochProblem(null), null);
  assert.equal(epochProblem('42'), null);
  assert.equal(epochProblem('forty-two'), 'is not an integer counter');
  assert.equal(epochProblem('-1'), 'is not an integer counter');
});
