/**
 * RFC 1035 master-file ("zone file") parser for the static records a zone
 * serves next to its geo-steered names. It never throws on bad input: every
 * problem becomes a ConfigIssue and parsing carries on with the next record,
 * so one run reports every mistake in the file. Records with any problem are
 * left out of the result.
 *
 * Deliberately unsupported: $INCLUDE and $GENERATE (a map file must be
 * self-contained), classes other than IN, and escaped dots inside labels
 * (they cannot round-trip through our dotted-string name model).
 */

import { domainToASCII } from 'node:url';
import type { ConfigIssue } from '../common/errors';
import { formatIp, parseIp } from '../common/ip';
import { RECORD_TYPES, type RData, type RecordType, type ZoneRecord } from './records';

export interface ZoneFileOptions {
  /** File name used in error messages. */
  file: string;
  /** Initial $ORIGIN, fully qualified, lower case, no trailing dot (e.g. 'example.com'). */
  origin: string;
  /** TTL used when neither $TTL nor an explicit TTL is given (default 3600). */
  defaultTtl?: number;
  /** Added to every reported line number (text embedded in a YAML block scalar starts at some line). */
  lineOffset?: number;
  /**
   * Quote the offending text in error messages (as a short escaped excerpt).
   * Off for zone files named by `file:`: when `file:` names the wrong file
   * (/etc/shadow, a key file), its errors must not copy the file's content
   * into logs; the line, column and reason are enough. @default true
   */
  quoteContent?: boolean;
  /** Records accepted before parsing stops with an error at the next one: what is left of the zone's limit. @default MAX_ZONE_RECORDS */
  maxRecords?: number;
  /** The zone's whole limit (`limits.zone_records`), named in the error. @default MAX_ZONE_RECORDS */
  zoneRecordLimit?: number;
}

/**
 * Default static records one zone may hold (inline and `file:` together;
 * `limits.zone_records` in the map). Every one is prebuilt at load, and a
 * limit turns a wrong `file:` (a log, a dump) into an error instead of a
 * stalled reload.
 */
export const MAX_ZONE_RECORDS = 1_000_000;
/** Errors reported from one zone text before the rest of it is skipped: past this it is rarely a zone file. */
export const MAX_ZONE_ISSUES = 100;

export interface ZoneFileResult {
  records: ZoneRecord[];
  issues: ConfigIssue[];
}

const MAX_TTL = 2147483647;
const MAX_U32 = 4294967295;
const MAX_U16 = 65535;
const TTL_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const CLASS_RE = /^(IN|CH|CHAOS|HS|HESIOD|CS|NONE|ANY|CLASS\d+)$/i;

interface Token {
  /** Raw text; escapes are kept so each field can decode them its own way. */
  text: string;
  quoted: boolean;
  line: number;
  col: number;
}

/** One logical entry: a physical line, or several joined by parentheses. */
interface Entry {
  tokens: Token[];
  line: number;
  /** The entry's first line starts with whitespace: the owner is the previous record's. */
  blankOwner: boolean;
  /** The tokenizer already reported a problem; the entry is not turned into a record. */
  broken: boolean;
}

type Report = (line: number, col: number, message: string) => void;

function newEntry(): Entry {
  return { tokens: [], line: 0, blankOwner: false, broken: false };
}

function isSpace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\r';
}

/**
 * Splits the text into entries of tokens, dropping comments and joining
 * parenthesised lines. A generator, so a caller that stops early (too many
 * records or errors) does not tokenize the rest of a large file.
 */
function* tokenize(text: string, report: Report): Generator<Entry> {
  const entries: Entry[] = [];
  const n = text.length;
  // Skip a UTF-8 BOM left by some editors so it does not become part of the first owner.
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  let lineStart = i;
  let depth = 0;
  let parenLine = 0;
  let parenCol = 0;
  let cur = newEntry();

  const finish = (): void => {
    if (cur.tokens.length > 0) entries.push(cur);
    cur = newEntry();
  };
  const add = (tok: Token): void => {
    if (cur.tokens.length === 0) {
      cur.line = tok.line;
      cur.blankOwner = text[lineStart] === ' ' || text[lineStart] === '\t';
    }
    cur.tokens.push(tok);
  };

  while (i < n) {
    const ch = text[i];
    const col = i - lineStart + 1;
    if (ch === '\n') {
      if (depth === 0) {
        finish();
        if (entries.length) yield entries.pop() as Entry;
      }
      line++;
      i++;
      lineStart = i;
    } else if (isSpace(ch)) {
      i++;
    } else if (ch === ';') {
      while (i < n && text[i] !== '\n') i++;
    } else if (ch === '(') {
      if (depth > 0) {
        report(line, col, 'nested "(" is not allowed');
        cur.broken = true;
      } else {
        parenLine = line;
        parenCol = col;
      }
      depth++;
      i++;
    } else if (ch === ')') {
      if (depth === 0) {
        report(line, col, '")" without a matching "("');
        cur.broken = true;
      } else {
        depth--;
      }
      i++;
    } else if (ch === '"') {
      let j = i + 1;
      let closed = false;
      while (j < n) {
        const c = text[j];
        if (c === '"') {
          closed = true;
          break;
        }
        if (c === '\n') break;
        // Keep the escape pair verbatim so \" does not end the string.
        j += c === '\\' && j + 1 < n && text[j + 1] !== '\n' ? 2 : 1;
      }
      add({ text: text.slice(i + 1, j), quoted: true, line, col });
      if (!closed) {
        report(line, col, 'unterminated quoted string (quotes cannot span lines)');
        cur.broken = true;
      }
      i = closed ? j + 1 : j;
    } else {
      let j = i;
      while (j < n) {
        const c = text[j];
        if (c === '\n' || isSpace(c) || c === ';' || c === '(' || c === ')' || c === '"') break;
        j += c === '\\' && j + 1 < n && text[j + 1] !== '\n' ? 2 : 1;
      }
      add({ text: text.slice(i, j), quoted: false, line, col });
      i = j;
    }
  }
  if (depth > 0) {
    report(parenLine, parenCol, '"(" is never closed');
    cur.broken = true;
  }
  finish();
  if (entries.length) yield entries.pop() as Entry;
}

/** Most characters of a zone file quoted in one error message. */
export const EXCERPT_CHARS = 20;

/**
 * Text from a zone file as it may appear in an error message: at most
 * EXCERPT_CHARS characters (then "..."), with control, format, separator and
 * unassigned characters and `"` written as \xNN or \u{N}, so a message can
 * neither carry much of a file nor play tricks on a terminal.
 */
export function excerpt(text: string): string {
  let out = '';
  let n = 0;
  for (const ch of text) {
    if (n++ === EXCERPT_CHARS) return `${out}...`;
    const cp = ch.codePointAt(0) as number;
    if (ch === '"' || (ch !== ' ' && /[\p{C}\p{Z}]/u.test(ch))) out += cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
    else out += ch;
  }
  return out;
}

/** Decodes `\X` and `\DDD` escapes into bytes (other text is UTF-8). Returns an error message on failure. */
function unescapeBytes(raw: string): Buffer | string {
  const parts: Buffer[] = [];
  let plainFrom = 0;
  let i = 0;
  while (i < raw.length) {
    if (raw[i] !== '\\') {
      i++;
      continue;
    }
    parts.push(Buffer.from(raw.slice(plainFrom, i), 'utf8'));
    const digits = /^\d{3}/.exec(raw.slice(i + 1, i + 4));
    if (digits) {
      const v = Number(digits[0]);
      if (v > 255) return `escape "\\${digits[0]}" is not a byte value (000-255)`;
      parts.push(Buffer.from([v]));
      i += 4;
    } else if (/^\d/.test(raw.slice(i + 1, i + 2))) {
      return `escape "${excerpt(raw.slice(i, i + 4))}" must be a backslash and exactly three digits`;
    } else if (i + 1 >= raw.length) {
      return 'trailing backslash';
    } else {
      // \X stands for X itself; take a whole code point so \ü stays valid UTF-8.
      const cp = String.fromCodePoint(raw.codePointAt(i + 1) as number);
      parts.push(Buffer.from(cp, 'utf8'));
      i += 1 + cp.length;
    }
    plainFrom = i;
  }
  parts.push(Buffer.from(raw.slice(plainFrom), 'utf8'));
  return Buffer.concat(parts);
}

/** Seconds, or BIND-style units such as 1h30m. Null if the syntax is wrong (range is checked by the caller). */
function parseDuration(text: string): number | null {
  if (/^\d+$/.test(text)) return Number(text);
  if (!/^(\d+[smhdw])+$/i.test(text)) return null;
  let total = 0;
  for (const m of text.matchAll(/(\d+)([smhdw])/gi)) total += Number(m[1]) * TTL_UNITS[m[2].toLowerCase()];
  return total;
}

class ZoneParser {
  readonly records: ZoneRecord[] = [];
  readonly issues: ConfigIssue[] = [];
  private origin: string;
  /** Set by $TTL; undefined until one is seen. */
  private zoneTtl: number | undefined;
  /** Owner of the previous record: undefined = none yet, null = it was invalid (already reported). */
  private lastOwner: string | null | undefined;
  readonly file: string;
  private readonly defaultTtl: number;
  readonly lineOffset: number;
  /** Whether messages may quote the file's text (see ZoneFileOptions.quoteContent). */
  readonly quote: boolean;

  constructor(options: ZoneFileOptions) {
    this.file = options.file;
    // Normalise defensively: callers are supposed to pass the canonical form already.
    this.origin = options.origin.toLowerCase().replace(/\.$/, '');
    this.defaultTtl = options.defaultTtl ?? 3600;
    this.lineOffset = options.lineOffset ?? 0;
    this.quote = options.quoteContent ?? true;
  }

  /** ` "EXCERPT"` to follow a noun in a message, or nothing when content is not quoted. */
  private q(text: string): string {
    return this.quote ? ` "${excerpt(text)}"` : '';
  }

  /** `"EXCERPT"` where the text is the subject, or `noun` when content is not quoted. */
  private shown(text: string, noun: string): string {
    return this.quote ? `"${excerpt(text)}"` : noun;
  }

  readonly report: Report = (line, col, message) => {
    this.issues.push({ file: this.file, line: line + this.lineOffset, col, path: '', message });
  };

  private fail(tok: Token, message: string): null {
    this.report(tok.line, tok.col, message);
    return null;
  }

  entry(e: Entry): void {
    const before = this.issues.length;
    const first = e.tokens[0];
    if (!first.quoted && first.text.startsWith('$')) {
      if (!e.broken) this.directive(e.tokens);
      return;
    }

    let owner: string | null;
    let k: number;
    if (e.blankOwner) {
      k = 0;
      if (this.lastOwner === undefined) {
        this.report(e.line, 1, 'line starts with whitespace (meaning "same owner as the previous record") but there is no previous record');
        owner = null;
      } else {
        owner = this.lastOwner;
      }
    } else {
      k = 1;
      owner = this.name(first, 'owner name');
      this.lastOwner = owner;
    }
    // The tokenizer already explained what is wrong; more messages would only be noise.
    if (e.broken) return;

    const toks = e.tokens;
    let ttl: number | undefined;
    let ttlSeen = false;
    let classSeen = false;
    // TTL and class may come in either order, each at most once.
    for (; k < toks.length && !toks[k].quoted; k++) {
      const t = toks[k];
      if (/^\d/.test(t.text)) {
        if (parseIp(t.text)) {
          // `www 192.0.2.1`: a forgotten type, not a bad TTL.
          this.fail(t, `missing record type before ${this.shown(t.text, 'an address')}`);
          return;
        }
        if (ttlSeen) this.fail(t, `second TTL${this.q(t.text)} in one record`);
        ttlSeen = true;
        ttl = this.duration(t, 'TTL') ?? undefined;
      } else if (CLASS_RE.test(t.text)) {
        if (classSeen) this.fail(t, `second class${this.q(t.text)} in one record`);
        classSeen = true;
        if (t.text.toUpperCase() !== 'IN') this.fail(t, `class${this.q(t.text)} is not supported; only IN is`);
      } else {
        break;
      }
    }

    if (k >= toks.length) {
      const last = toks[toks.length - 1];
      this.report(last.line, last.col, 'missing record type');
      return;
    }
    const typeTok = toks[k];
    const type = typeTok.text.toUpperCase() as RecordType;
    if (typeTok.quoted || !RECORD_TYPES.includes(type)) {
      this.fail(typeTok, `unsupported record type${this.q(typeTok.text)} (supported: ${RECORD_TYPES.join(', ')})`);
      return;
    }
    const rdata = this.rdata(type, typeTok, toks.slice(k + 1));
    if (owner === null || rdata === null || this.issues.length !== before) return;
    this.records.push({
      name: owner,
      ttl: ttl ?? this.zoneTtl ?? this.defaultTtl,
      rdata,
      file: this.file,
      line: e.line + this.lineOffset,
    });
  }

  private directive(toks: Token[]): void {
    const d = toks[0];
    const upper = d.text.toUpperCase();
    if (upper === '$INCLUDE' || upper === '$GENERATE') {
      this.fail(d, `${upper} is not supported; put the records in this file`);
      return;
    }
    if (upper !== '$ORIGIN' && upper !== '$TTL') {
      this.fail(d, `unknown directive${this.q(d.text)} (supported: $ORIGIN, $TTL)`);
      return;
    }
    if (toks.length < 2) {
      this.fail(d, `${upper} needs a value`);
      return;
    }
    if (toks.length > 2) this.fail(toks[2], `unexpected ${this.shown(toks[2].text, 'text')} after ${upper} value`);
    if (upper === '$ORIGIN') {
      // A relative $ORIGIN is resolved against the current one, as BIND does.
      const origin = this.name(toks[1], '$ORIGIN');
      if (origin !== null) this.origin = origin;
    } else {
      const ttl = this.duration(toks[1], '$TTL');
      if (ttl !== null) this.zoneTtl = ttl;
    }
  }

  /** Resolves a domain name token against the current origin; null (after reporting) if invalid. */
  private name(tok: Token, what: string): string | null {
    const raw = tok.text;
    if (tok.quoted) return this.fail(tok, `${what} must not be a quoted string`);
    if (raw === '@') return this.origin;
    if (raw === '.') return '';
    const plainName = this.plainName(raw);
    if (plainName !== null) return plainName;

    // Decode escapes so the label checks see the real characters; an escaped dot
    // would be a dot inside a label, which our dotted-string names cannot express.
    let plain = '';
    for (let i = 0; i < raw.length; ) {
      if (raw[i] !== '\\') {
        plain += raw[i++];
        continue;
      }
      const digits = /^\d{3}/.exec(raw.slice(i + 1, i + 4));
      let c: string;
      if (digits) {
        if (Number(digits[0]) > 255) return this.fail(tok, `${what}${this.q(raw)}: escape "\\${digits[0]}" is not a byte value`);
        c = String.fromCharCode(Number(digits[0]));
        i += 4;
      } else if (i + 1 < raw.length) {
        c = raw[i + 1];
        i += 2;
      } else {
        return this.fail(tok, `${what}${this.q(raw)} ends with a backslash`);
      }
      if (c === '.') return this.fail(tok, `${what}${this.q(raw)}: escaped dots inside labels are not supported`);
      plain += c;
    }

    const absolute = plain.endsWith('.');
    if (absolute) plain = plain.slice(0, -1);
    for (const label of plain.split('.')) {
      if (label === '') return this.fail(tok, `${what}${this.q(raw)} has an empty label (two dots in a row, or a leading dot)`);
      const bad = /[^A-Za-z0-9_*-]/u.exec(label);
      if (bad) {
        let hint = '';
        if (/[\u0080-\uffff]/.test(plain)) {
          const ascii = domainToASCII(plain);
          hint = ascii && this.quote ? `; write international names in punycode, e.g. "${excerpt(ascii)}"` : '; write international names in punycode (xn--...)';
        }
        return this.fail(tok, `${what}${this.q(raw)} contains "${excerpt(bad[0])}"; labels may only use ASCII letters, digits, "-", "_" and "*"${hint}`);
      }
      if (label.length > 63) return this.fail(tok, `${what}${this.q(raw)}: a label is ${label.length} bytes long; the limit is 63`);
    }
    const full = (absolute || this.origin === '' ? plain : `${plain}.${this.origin}`).toLowerCase();
    // 253 characters of dotted text is the 255-byte wire limit.
    if (full.length > 253) return this.fail(tok, `${what}${this.q(full)} is ${full.length} characters long; the limit is 253`);
    return full;
  }

  /**
   * The common case of `name` in one pass over the text: letters, digits, "-", "_", "*" and dots only, no
   * empty label, none over 63, 253 characters at most. Null for anything else: `name` then decides (and
   * explains), so both give the same name for any text this accepts.
   */
  private plainName(raw: string): string | null {
    const n = raw.length;
    let label = 0;
    for (let i = 0; i < n; i++) {
      const c = raw.charCodeAt(i);
      if (c === 46) {
        if (label === 0) return null;
        label = 0;
      } else if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 95 || c === 42) {
        if (++label > 63) return null;
      } else return null;
    }
    const absolute = label === 0; // ends with a dot (n > 0: the tokenizer makes no empty tokens)
    if (n === 0 || (absolute && n === 1)) return null;
    const full = (absolute ? raw.slice(0, -1) : this.origin === '' ? raw : `${raw}.${this.origin}`).toLowerCase();
    return full.length > 253 ? null : full;
  }

  private duration(tok: Token, what: string): number | null {
    const v = tok.quoted ? null : parseDuration(tok.text);
    if (v === null) return this.fail(tok, `${what}${this.q(tok.text)} is not a valid duration (seconds, or units like 1h30m)`);
    if (v > MAX_TTL) return this.fail(tok, `${what}${this.q(tok.text)} is out of range 0-${MAX_TTL}`);
    return v;
  }

  private uint(tok: Token, what: string, max: number): number | null {
    if (tok.quoted || !/^\d+$/.test(tok.text) || Number(tok.text) > max) {
      return this.fail(tok, `${what}${this.q(tok.text)} must be an integer 0-${max}`);
    }
    return Number(tok.text);
  }

  private address(tok: Token, type: 'A' | 'AAAA'): string | null {
    const bytes = tok.quoted ? null : parseIp(tok.text);
    const want = type === 'A' ? 4 : 16;
    if (!bytes) return this.fail(tok, `${this.shown(tok.text, 'the address')} is not a valid ${type === 'A' ? 'IPv4' : 'IPv6'} address`);
    if (bytes.length !== want) {
      return this.fail(tok, `${this.shown(tok.text, 'the address')} is an ${type === 'A' ? 'IPv6' : 'IPv4'} address; use ${type === 'A' ? 'an AAAA' : 'an A'} record`);
    }
    // Canonical text (RFC 5952 for IPv6) so equal addresses compare equal downstream.
    return formatIp(bytes);
  }

  /** Reports extra or missing rdata fields; true when all required fields are present. */
  private arity(type: RecordType, typeTok: Token, args: Token[], fields: string[]): boolean {
    if (args.length > fields.length) {
      const extra = args[fields.length];
      this.fail(extra, `unexpected ${this.shown(extra.text, 'text')} after ${type} data (${type} takes: ${fields.join(' ')})`);
    }
    if (args.length < fields.length) {
      this.fail(typeTok, `${type} record is missing ${fields.slice(args.length).join(' ')} (${type} takes: ${fields.join(' ')})`);
      return false;
    }
    return true;
  }

  private rdata(type: RecordType, typeTok: Token, args: Token[]): RData | null {
    switch (type) {
      case 'A':
      case 'AAAA': {
        if (!this.arity(type, typeTok, args, ['address'])) return null;
        const address = this.address(args[0], type);
        return address === null ? null : { type, address };
      }
      case 'CNAME':
      case 'NS':
      case 'PTR': {
        if (!this.arity(type, typeTok, args, ['target'])) return null;
        const target = this.name(args[0], `${type} target`);
        return target === null ? null : { type, target };
      }
      case 'MX': {
        if (!this.arity(type, typeTok, args, ['preference', 'exchange'])) return null;
        const preference = this.uint(args[0], 'MX preference', MAX_U16);
        const exchange = this.name(args[1], 'MX exchange');
        return preference === null || exchange === null ? null : { type, preference, exchange };
      }
      case 'TXT': {
        if (args.length === 0) return this.fail(typeTok, 'TXT record needs at least one string');
        const strings: Buffer[] = [];
        for (const tok of args) {
          const bytes = unescapeBytes(tok.text);
          if (typeof bytes === 'string') this.fail(tok, `TXT string: ${bytes}`);
          else if (bytes.length > 255) {
            this.fail(tok, `TXT string is ${bytes.length} bytes; the limit is 255 per string (split it into several quoted strings)`);
          } else strings.push(bytes);
        }
        return strings.length === args.length ? { type, strings } : null;
      }
      case 'SRV': {
        if (!this.arity(type, typeTok, args, ['priority', 'weight', 'port', 'target'])) return null;
        const priority = this.uint(args[0], 'SRV priority', MAX_U16);
        const weight = this.uint(args[1], 'SRV weight', MAX_U16);
        const port = this.uint(args[2], 'SRV port', MAX_U16);
        const target = this.name(args[3], 'SRV target');
        if (priority === null || weight === null || port === null || target === null) return null;
        return { type, priority, weight, port, target };
      }
      case 'CAA': {
        if (!this.arity(type, typeTok, args, ['flags', 'tag', 'value'])) return null;
        const flags = this.uint(args[0], 'CAA flags', 255);
        const tagTok = args[1];
        // RFC 8659: the tag is 1-15 ASCII letters and digits.
        const tag = /^[A-Za-z0-9]{1,15}$/.test(tagTok.text)
          ? tagTok.text
          : this.fail(tagTok, `CAA tag${this.q(tagTok.text)} must be 1-15 ASCII letters or digits (e.g. issue, issuewild, iodef)`);
        const bytes = unescapeBytes(args[2].text);
        const value = typeof bytes === 'string' ? this.fail(args[2], `CAA value: ${bytes}`) : bytes.toString('utf8');
        if (flags === null || tag === null || value === null) return null;
        return { type, flags, tag, value };
      }
      case 'SOA': {
        const fields = ['mname', 'rname', 'serial', 'refresh', 'retry', 'expire', 'minimum'];
        if (!this.arity(type, typeTok, args, fields)) return null;
        const mname = this.name(args[0], 'SOA mname');
        const rname = this.name(args[1], 'SOA rname');
        const serial = this.uint(args[2], 'SOA serial', MAX_U32);
        const refresh = this.duration(args[3], 'SOA refresh');
        const retry = this.duration(args[4], 'SOA retry');
        const expire = this.duration(args[5], 'SOA expire');
        const minimum = this.duration(args[6], 'SOA minimum');
        if (mname === null || rname === null || serial === null) return null;
        if (refresh === null || retry === null || expire === null || minimum === null) return null;
        return { type, mname, rname, serial, refresh, retry, expire, minimum };
      }
    }
  }
}

/**
 * Parses zone-file text into records. Never throws on bad input: problems come
 * back as issues (sorted by position) and the affected records are omitted.
 */
export function parseZoneText(text: string, options: ZoneFileOptions): ZoneFileResult {
  const parser = new ZoneParser(options);
  const maxRecords = options.maxRecords ?? MAX_ZONE_RECORDS;
  /** Why parsing stopped early; reported after the issues found up to there. */
  let stopped: ConfigIssue | null = null;
  const stop = (line: number, message: string): void => {
    stopped = { file: parser.file, line: line + parser.lineOffset, col: 1, path: '', message };
  };
  for (const entry of tokenize(text, parser.report)) {
    parser.entry(entry);
    if (parser.records.length > maxRecords) {
      parser.records.pop();
      stop(entry.line, `more than ${options.zoneRecordLimit ?? MAX_ZONE_RECORDS} records in the zone ("records:" and "file:" together), the limit (limits.zone_records); the rest is not read`);
      break;
    }
    if (parser.issues.length >= MAX_ZONE_ISSUES) {
      stop(entry.line, `${parser.issues.length} errors so far; the rest is not read (is this a zone file?)`);
      break;
    }
  }
  // The tokenizer reports a line's problems before the parser sees it; sort (stably) so issues read top to bottom.
  const issues = [...parser.issues].sort((a, b) => a.line - b.line || a.col - b.col);
  if (stopped) issues.push(stopped);
  return { records: parser.records, issues };
}
