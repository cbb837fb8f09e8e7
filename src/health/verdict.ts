import type { Vote } from './model';

/** `majority` = more than half of the fresh votes; a number = at least that many fresh down votes. */
export type Quorum = 'majority' | number;

export interface Verdict {
  up: boolean;
  fresh: number;
  down: number;
  /** 'quorum' when fresh votes decided, 'last-known' when there were none. */
  basis: 'quorum' | 'last-known';
}

/**
 * The verdict for one (service, datacenter) from its votes. Every server runs
 * the same function on the same votes, so all of them agree. A datacenter is
 * down when at least `quorum` fresh votes say down; with no fresh votes it
 * keeps `lastKnown` (up at cold start: failing open beats answering nothing).
 */
export function computeVerdict(votes: Iterable<Vote>, now: number, quorum: Quorum, lastKnown: boolean): Verdict {
  let fresh = 0;
  let down = 0;
  for (const v of votes) {
    if (now - v.at > v.ttlMs) continue;
    fresh++;
    if (!v.up) down++;
  }
  if (fresh === 0) return { up: lastKnown, fresh, down, basis: 'last-known' };
  const need = quorum === 'majority' ? Math.floor(fresh / 2) + 1 : quorum;
  return { up: down < need, fresh, down, basis: 'quorum' };
}
