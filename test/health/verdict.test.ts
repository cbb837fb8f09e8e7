import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeVerdict, type Vote } from '../../src/health';

const NOW = 1_000_000;
let seq = 0;
/** A vote `ageMs` old with a 1000 ms ttl unless told otherwise. */
function vote(up: boolean, ageMs = 0, ttlMs = 1000): Vote {
  seq++;
  return { prober: `p${seq}`, service: 'www', dc: 'gz', up, at: NOW - ageMs, ttlMs, detail: up ? 'HTTP 200' : 'ECONNREFUSED', latencyMs: 1 };
}
const votes = (ups: boolean[]): Vote[] => ups.map((u) => vote(u));

test('majority: 1 of 3 down is up, 2 of 3 down is down', () => {
  assert.deepEqual(computeVerdict(votes([false, true, true]), NOW, 'majority', true), { up: true, fresh: 3, down: 1, basis: 'quorum' });
  assert.deepEqual(computeVerdict(votes([false, false, true]), NOW, 'majority', true), { up: false, fresh: 3, down: 2, basis: 'quorum' });
  assert.equal(computeVerdict(votes([false, false, false]), NOW, 'majority', true).up, false);
  assert.equal(computeVerdict(votes([true, true, true]), NOW, 'majority', false).up, true, 'fresh votes override a down lastKnown');
});

test('majority: 1 of 1 down is down, 1 of 2 down is up (majority of 2 is 2), 2 of 2 is down', () => {
  assert.deepEqual(computeVerdict(votes([false]), NOW, 'majority', true), { up: false, fresh: 1, down: 1, basis: 'quorum' });
  assert.deepEqual(computeVerdict(votes([false, true]), NOW, 'majority', true), { up: true, fresh: 2, down: 1, basis: 'quorum' });
  assert.equal(computeVerdict(votes([false, false]), NOW, 'majority', true).up, false);
  assert.equal(computeVerdict(votes([true]), NOW, 'majority', false).up, true);
  // 4 votes: majority is 3.
  assert.equal(computeVerdict(votes([false, false, true, true]), NOW, 'majority', true).up, true);
  assert.equal(computeVerdict(votes([false, false, false, true]), NOW, 'majority', true).up, false);
});

test('fixed quorum N: down once at least N fresh votes say down, whatever the total', () => {
  assert.equal(computeVerdict(votes([false, true, true, true, true]), NOW, 1, true).up, false);
  assert.equal(computeVerdict(votes([false, true, true]), NOW, 2, true).up, true);
  assert.equal(computeVerdict(votes([false, false, true, true, true]), NOW, 2, true).up, false, '2 of 5 is enough with quorum 2');
  assert.equal(computeVerdict(votes([false]), NOW, 2, true).up, true, 'one prober cannot reach a quorum of 2');
  assert.deepEqual(computeVerdict(votes([false, false, false]), NOW, 3, true), { up: false, fresh: 3, down: 3, basis: 'quorum' });
});

test('stale votes are ignored; a vote exactly ttl old still counts', () => {
  // Two stale downs and one fresh up: the fresh vote alone decides.
  const v = [vote(false, 1001), vote(false, 5000), vote(true, 10)];
  assert.deepEqual(computeVerdict(v, NOW, 'majority', true), { up: true, fresh: 1, down: 0, basis: 'quorum' });
  assert.deepEqual(computeVerdict([vote(false, 1000)], NOW, 'majority', true), { up: false, fresh: 1, down: 1, basis: 'quorum' });
  // Per-vote ttl: the same age is fresh for one vote and stale for another.
  const mixed = [vote(false, 1500, 2000), vote(false, 1500, 1000), vote(true, 0, 1000)];
  assert.deepEqual(computeVerdict(mixed, NOW, 'majority', true), { up: true, fresh: 2, down: 1, basis: 'quorum' });
  // Stale votes do not count towards a fixed quorum either.
  assert.equal(computeVerdict([vote(false, 2000), vote(false, 0)], NOW, 2, true).up, true);
});

test('no fresh votes: the last known state holds (both ways), basis last-known', () => {
  for (const lastKnown of [true, false]) {
    assert.deepEqual(computeVerdict([], NOW, 'majority', lastKnown), { up: lastKnown, fresh: 0, down: 0, basis: 'last-known' });
    assert.deepEqual(computeVerdict([vote(!lastKnown, 5000), vote(!lastKnown, 1001)], NOW, 'majority', lastKnown), {
      up: lastKnown,
      fresh: 0,
      down: 0,
      basis: 'last-known',
    });
    assert.equal(computeVerdict([vote(!lastKnown, 5000)], NOW, 3, lastKnown).up, lastKnown);
  }
});

test('accepts any iterable of votes (a Map\'s values)', () => {
  const m = new Map<string, Vote>([
    ['a', vote(false)],
    ['b', vote(false)],
    ['c', vote(true)],
  ]);
  assert.equal(computeVerdict(m.values(), NOW, 'majority', true).up, false);
});
