import type { Drain, InvalidKind, PrimaryPointer, Vote } from './model';

/**
 * Reading the shared table one value at a time: whatever a buggy tool or an
 * operator's typo left in Redis is skipped with a reason, and every other
 * value still applies. Pure functions (no Redis), so the rules are tested on
 * their own (test/health/validate.test.ts).
 */

/**
 * Largest value accepted, in bytes. A real vote, drain or pointer is a few
 * hundred bytes (the longest part is an operator's reason or a check's
 * detail); 64 KiB leaves room for long text, while one runaway writer cannot
 * make every server's full read, memory and state file carry megabytes.
 */
export const MAX_VALUE_BYTES = 64 * 1024;

/**
 * How far past the store clock a record's `at` may be. Every record is
 * stamped by a Lua script with Redis TIME, so none can be ahead of the TIME
 * read in the same transaction; 5 s covers a Sentinel failover to a replica
 * whose clock is a little behind the old master's. A vote from the future
 * would count as fresh long after its prober stopped voting (`at` + TTL is
 * far away), pinning a datacenter's verdict; a pointer from the future would
 * win over every later move.
 */
export const FUTURE_SKEW_MS = 5000;

export type Checked<T> = { ok: true; value: T } | { ok: false; kind: InvalidKind; reason: string };

const bad = (kind: InvalidKind, reason: string): { ok: false; kind: InvalidKind; reason: string } => ({ ok: false, kind, reason });

/** What a JSON value is, in words. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'missing';
  if (Array.isArray(v)) return 'an array';
  const t = typeof v;
  return t === 'object' ? 'an object' : `a ${t}`;
}

/**
 * Field types: `name` a non-empty string (service, datacenter, prober),
 * `text` any string, `time` a store-clock time in ms, `ms` a positive
 * duration, `count` a number >= 0, `int` an integer >= 0, `bool`.
 */
type FieldType = 'name' | 'text' | 'time' | 'ms' | 'count' | 'int' | 'bool';
/** [type, default when absent]; no default: required. */
type Spec = Record<string, [FieldType, (string | number)?]>;

const WANT: Record<FieldType, string> = {
  name: 'a non-empty string',
  text: 'a string',
  time: 'a time in ms (a number >= 0)',
  ms: 'a duration in ms (a number > 0)',
  count: 'a number >= 0',
  int: 'an integer >= 0',
  bool: 'true or false',
};

function fits(type: FieldType, v: unknown): boolean {
  switch (type) {
    case 'name':
      return typeof v === 'string' && v.length > 0;
    case 'text':
      return typeof v === 'string';
    case 'bool':
      return typeof v === 'boolean';
    case 'ms':
      return typeof v === 'number' && Number.isFinite(v) && v > 0;
    case 'int':
      return Number.isSafeInteger(v) && (v as number) >= 0;
    default: // time, count
      return typeof v === 'number' && Number.isFinite(v) && v >= 0;
  }
}

/** Checks every field of `spec` in `o`; returns a plain copy with just those fields (defaults filled in). */
function shape<T>(o: unknown, spec: Spec): Checked<T> {
  if (o === undefined) return bad('bad-shape', 'is missing');
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return bad('bad-shape', `is ${describe(o)}, not an object`);
  const src = o as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [name, [type, dflt]] of Object.entries(spec)) {
    const v = src[name];
    if (v === undefined && dflt !== undefined) out[name] = dflt;
    else if (v === undefined) return bad('bad-shape', `"${name}" is missing`);
    else if (!fits(type, v)) return bad('bad-shape', `"${name}" is ${describe(v)}${typeof v === 'number' || typeof v === 'string' ? ` (${JSON.stringify(v).slice(0, 40)})` : ''}, not ${WANT[type]}`);
    else out[name] = v;
  }
  return { ok: true, value: out as T };
}

const VOTE: Spec = { prober: ['name'], service: ['name'], dc: ['name'], up: ['bool'], at: ['time'], ttlMs: ['ms'], detail: ['text', ''], latencyMs: ['count', 0] };
const DRAIN: Spec = { service: ['name'], dc: ['name'], until: ['time'], at: ['time'], reason: ['text', ''], by: ['text', ''] };
const PRIMARY: Spec = { service: ['name'], dc: ['name'], epoch: ['int'], at: ['time'], by: ['text', ''], reason: ['text', ''] };
const UNDRAIN: Spec = { service: ['name'], dc: ['name'] };

function json(text: string, limit = MAX_VALUE_BYTES): Checked<unknown> {
  const bytes = Buffer.byteLength(text);
  if (bytes > limit) return bad('too-large', `is ${bytes} bytes, over the ${limit}-byte limit`);
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return bad('not-json', 'is not JSON');
  }
}

function record<T extends { at: number }>(text: string, spec: Spec, storeNow: number): Checked<T> {
  const j = json(text);
  if (!j.ok) return j;
  return stamped(shape<T>(j.value, spec), storeNow);
}

function stamped<T extends { at: number }>(r: Checked<T>, storeNow: number): Checked<T> {
  if (r.ok && r.value.at > storeNow + FUTURE_SKEW_MS) return bad('future', `"at" is ${Math.round((r.value.at - storeNow) / 1000)} s ahead of the store clock (more than ${FUTURE_SKEW_MS / 1000} s)`);
  return r;
}

/** A value of the votes hash; `storeNow` is Redis TIME of the same read (ms). */
export const parseVote = (text: string, storeNow: number): Checked<Vote> => record<Vote>(text, VOTE, storeNow);
/** A value of the drains hash. */
export const parseDrain = (text: string, storeNow: number): Checked<Drain> => record<Drain>(text, DRAIN, storeNow);
/** A value of the primary hash. */
export const parsePrimary = (text: string, storeNow: number): Checked<PrimaryPointer> => record<PrimaryPointer>(text, PRIMARY, storeNow);

export type EventMessage =
  | { t: 'vote'; d: Vote }
  | { t: 'drain'; d: Drain }
  | { t: 'undrain'; d: { service: string; dc: string } }
  | { t: 'primary'; d: PrimaryPointer };

/** A message of the events channel: `{"t":"vote"|"drain"|"undrain"|"primary","d":RECORD}`. */
export function parseMessage(text: string, storeNow: number): Checked<EventMessage> {
  const j = json(text, MAX_VALUE_BYTES + 64); // the record plus its envelope
  if (!j.ok) return j;
  const m = j.value as { t?: unknown; d?: unknown } | null;
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return bad('bad-shape', `is ${describe(m)}, not an object`);
  // Reasons name the field inside "d": `"d.until" is a string`, `"d" is missing`.
  const inD = (reason: string): string => (reason.startsWith('"') ? `"d.${reason.slice(1)}` : `"d" ${reason}`);
  const prefix = (r: Checked<unknown>): Checked<EventMessage> => (r.ok ? { ok: true, value: { t: m.t, d: r.value } as EventMessage } : bad(r.kind, `${String(m.t)} message: ${inD(r.reason)}`));
  switch (m.t) {
    case 'vote':
      return prefix(stamped(shape<Vote>(m.d, VOTE), storeNow));
    case 'drain':
      return prefix(stamped(shape<Drain>(m.d, DRAIN), storeNow));
    case 'primary':
      return prefix(stamped(shape<PrimaryPointer>(m.d, PRIMARY), storeNow));
    case 'undrain':
      return prefix(shape(m.d, UNDRAIN));
    default:
      return bad('bad-shape', `"t" is ${describe(m.t)}${typeof m.t === 'string' ? ` ("${m.t.slice(0, 40)}")` : ''}, not vote, drain, undrain or primary`);
  }
}

/** A Redis key's type is one of `want` ('none': the key does not exist, which is fine). */
export function typeProblem(actual: string, want: string): string | null {
  return actual === 'none' || actual === want ? null : `holds a ${actual}, not a ${want}`;
}

/** The epoch counter: an integer INCR can add to. */
export const epochProblem = (value: string | null): string | null => (value === null || /^\d{1,18}$/.test(value) ? null : 'is not an integer counter');
