import { parseArgs } from 'node:util';
import { DNS_ARGS, DNS_USAGE } from './dns-args';
import { REDIS_ARGS, REDIS_USAGE, UsageError } from './redis-args';

// Every verb's options, arity and help in one table: main prints `geosteer VERB --help` and usage errors
// from it, each command parses its arguments with it, and the docs test checks README commands against it.

interface VerbSpec {
  /** One or more `geosteer VERB ...` lines. */
  synopsis: string;
  /** One line for `geosteer --help`. */
  summary: string;
  /** What it does, for `geosteer VERB --help`. */
  about: string;
  options: NonNullable<Parameters<typeof parseArgs>[0]>['options'];
  /** Its positional arguments, in order; NAME? is optional. */
  args: readonly string[];
  /** Extra help sections (REDIS, TCP LIMITS). */
  sections?: readonly string[];
}

const REDIS_SECTION = `REDIS:\n${REDIS_USAGE}`;
const CONFIG = { config: { type: 'string', short: 'c' } } as const;
const SERVER = { server: { type: 'string' } } as const;
const SERVER_SECTION = `--server HOST:PORT|URL (instead of REDIS):
  one server without Redis: its own embedded table, through its admin port (default 127.0.0.1:9253,
  serve's --metrics-listen); off loopback the port wants GEOSTEER_ADMIN_TOKEN (or _FILE) here too.
  The same output and audit entries; the server checks DC and SERVICE against its live map`;

export const VERBS = {
  serve: {
    summary: 'run the DNS server',
    synopsis: `geosteer serve [--config FILE|redis] [--listen HOST:PORT]... [--workers N] [REDIS] [--probe|--no-probe] [--id ID] [--state-file PATH]
               [--metrics-listen HOST:PORT|off] [--admin-host NAME]... [--log-level LEVEL] [--query-log-sample N] [TCP LIMITS]`,
    about: `run the DNS server (default geodata/map.yaml on 127.0.0.1:5300, UDP and TCP, one worker per CPU;
without REDIS: in-memory table, probes in-process); /metrics, /healthz, /readyz and the status page
on 127.0.0.1:9253 by default, answered only for Host: an IP literal, localhost or an --admin-host NAME
(DNS-rebinding guard); LEVEL: fatal error warn info debug trace silent (or LOG_LEVEL);
--query-log-sample N logs one query in N. Runs until SIGINT/SIGTERM (exit 0); SIGHUP reloads the map.
With REDIS and no --config (or --config redis): runs the map published there (geosteer publish), follows
each new version within a second, keeps the last one loaded beside --state-file for restarts while Redis
is unreachable, and names itself by --id (default: host name) in the fleet registry and id.server.`,
    options: {
      ...CONFIG,
      listen: { type: 'string', short: 'l', multiple: true },
      probe: { type: 'boolean' },
      'no-probe': { type: 'boolean' },
      id: { type: 'string' },
      'state-file': { type: 'string' },
      workers: { type: 'string', short: 'w' },
      'metrics-listen': { type: 'string' },
      'admin-host': { type: 'string', multiple: true },
      'log-level': { type: 'string' },
      'query-log-sample': { type: 'string' },
      ...DNS_ARGS,
      ...REDIS_ARGS,
    },
    args: [],
    sections: [REDIS_SECTION, `TCP LIMITS:\n${DNS_USAGE}`],
  },
  check: {
    summary: 'validate a map file; with --against, what changes from OLD',
    synopsis: 'geosteer check FILE [--against OLD|current] [--simulate-down DC[,DC...]] [--json] [REDIS]',
    about: `validate a map file and print its routing table (exit 0 iff valid); with --against, what changes
from OLD: region lists, rules, services, the IPv4 /24s that move, per datacenter pair;
--against current compares with the map published in REDIS (a file named current: ./current);
services with capacity: the spill planned for each datacenter failure, or with --simulate-down the
load per datacenter with those down`,
    options: { against: { type: 'string' }, 'simulate-down': { type: 'string' }, json: { type: 'boolean' }, ...REDIS_ARGS },
    args: ['FILE'],
    sections: [REDIS_SECTION],
  },
  publish: {
    summary: 'validate a map and make it the one every serve --redis runs',
    synopsis: 'geosteer publish FILE [--reason TEXT] [--by WHO] [--keep N] REDIS',
    about: `validate FILE exactly as check does (zone files and GeoIP database included), store it and every
file it names in REDIS as a new immutable version and make it current: every serve started with
--redis and no --config loads it within a second. Keeps the last N versions (default 20); publishing
what is already current stores nothing. Audited (who, when, why).`,
    options: { reason: { type: 'string' }, by: { type: 'string' }, keep: { type: 'string' }, ...REDIS_ARGS },
    args: ['FILE'],
    sections: [REDIS_SECTION],
  },
  history: {
    summary: 'the published map versions, newest first',
    synopsis: 'geosteer history [--json] REDIS',
    about: 'the published map versions kept in REDIS, newest first: version, when, hash, who and why; * marks current',
    options: { json: { type: 'boolean' }, ...REDIS_ARGS },
    args: [],
    sections: [REDIS_SECTION],
  },
  rollback: {
    summary: 'make an older published map current again',
    synopsis: 'geosteer rollback [VERSION] [--reason TEXT] [--by WHO] REDIS',
    about: `make VERSION (default: the newest kept version older than current) the current published map
again; every serve --redis without --config follows within a second. Audited.`,
    options: { reason: { type: 'string' }, by: { type: 'string' }, ...REDIS_ARGS },
    args: ['VERSION?'],
    sections: [REDIS_SECTION],
  },
  state: {
    summary: 'the whole shared state as one JSON document, out and back in',
    synopsis: `geosteer state export [FILE] REDIS
  geosteer state import FILE [--dry-run] [--by WHO] REDIS`,
    about: `export: write everything the shared table holds (published maps, drains with expiry and reason,
primary pointers with epochs, the fencing epoch, the audit log) as one JSON document to FILE (default
stdout). import: write such a document back, fenced: a pointer never replaces one written later or of
a newer epoch, an expired drain never comes back, a newer drain is kept, a stored map version or a
current one is never overwritten; --dry-run shows what it would write. Audited.`,
    options: { 'dry-run': { type: 'boolean' }, by: { type: 'string' }, ...REDIS_ARGS },
    args: ['ACTION', 'FILE?'],
    sections: [REDIS_SECTION],
  },
  recover: {
    summary: 'refill a Redis that came back empty from what the fleet still holds',
    synopsis: 'geosteer recover [--dry-run] [--from URL|FILE]... [--max-age 10m] [--by WHO] REDIS',
    about: `rebuild the shared table after Redis lost its data (a restart without persistence, a new
Sentinel master that lost it) from what the fleet still holds: every registered serve's /api/state on
its admin port (drains and pointers of its mirror, also those Redis lost, and the published map it
serves), and this host's snapshot files ($TMPDIR/geosteer-*-health.json and their map copies, saved
within --max-age); or only the --from sources (a serve's admin URL, a snapshot, a state export).
Merged (per drain and pointer the latest written; as current map the one most hosts saw current),
shown, then written fenced as state import is; --dry-run only shows. Off loopback the admin port wants
GEOSTEER_ADMIN_TOKEN. Audited.`,
    options: { 'dry-run': { type: 'boolean' }, from: { type: 'string', multiple: true }, 'max-age': { type: 'string' }, by: { type: 'string' }, ...REDIS_ARGS },
    args: [],
    sections: [REDIS_SECTION],
  },
  explain: {
    summary: 'why a client gets its answer, offline',
    synopsis: 'geosteer explain IP [NAME] [--type TYPE] [--config FILE] [--subnet PREFIXLEN] [--json]',
    about: `the full decision for a client offline (the map and its GeoIP database, every datacenter up, no
Redis): what the server answers for NAME and TYPE (default A) and why; NAME defaults to every service;
--subnet: IP as an ECS subnet of that length`,
    options: { ...CONFIG, subnet: { type: 'string' }, type: { type: 'string' }, json: { type: 'boolean' } },
    args: ['IP', 'NAME?'],
  },
  probe: {
    summary: 'run the health checks and vote in the shared table',
    synopsis: 'geosteer probe [--config FILE] [--id ID] [--lease 10s] [--metrics-listen HOST:PORT|off] [--admin-host NAME]... REDIS',
    about: `run the map's health checks, vote in the shared table and take part in the leader election that
moves primaries (/metrics on 127.0.0.1:9254 by default). Runs until SIGINT/SIGTERM (exit 0).`,
    options: { ...CONFIG, id: { type: 'string' }, lease: { type: 'string' }, 'metrics-listen': { type: 'string' }, 'admin-host': { type: 'string', multiple: true }, ...REDIS_ARGS },
    args: [],
    sections: [REDIS_SECTION],
  },
  drain: {
    summary: 'take a datacenter out of the answers for a while',
    synopsis: 'geosteer drain DC [--service NAME] --for DURATION --reason TEXT [--by WHO] [--config FILE] REDIS|--server HOST:PORT',
    about: `take datacenter DC out of every answer (of one service, or of all) until DURATION passes; every
server honours it within a second; --config checks DC and NAME against the map first`,
    options: { service: { type: 'string', short: 's' }, for: { type: 'string' }, reason: { type: 'string' }, by: { type: 'string' }, ...CONFIG, ...REDIS_ARGS, ...SERVER },
    args: ['DC'],
    sections: [REDIS_SECTION, SERVER_SECTION],
  },
  undrain: {
    summary: 'end a drain',
    synopsis: 'geosteer undrain DC [--service NAME] [--by WHO] [--config FILE] REDIS|--server HOST:PORT',
    about: 'end a drain before it expires (exit 1 if there was no such drain)',
    options: { service: { type: 'string', short: 's' }, by: { type: 'string' }, ...CONFIG, ...REDIS_ARGS, ...SERVER },
    args: ['DC'],
    sections: [REDIS_SECTION, SERVER_SECTION],
  },
  promote: {
    summary: 'move the primary of a policy: primary service',
    synopsis: 'geosteer promote SERVICE DC [--reason TEXT] [--by WHO] [--config FILE] REDIS|--server HOST:PORT',
    about: 'make DC the primary of a `policy: primary` service (also to move it back after a failover)',
    options: { reason: { type: 'string' }, by: { type: 'string' }, ...CONFIG, ...REDIS_ARGS, ...SERVER },
    args: ['SERVICE', 'DC'],
    sections: [REDIS_SECTION, SERVER_SECTION],
  },
  status: {
    summary: 'the shared health table: verdicts, votes, drains, primaries',
    synopsis: 'geosteer status [--config FILE] [--json] REDIS|--server HOST:PORT',
    about: `the shared table: datacenters x services with the verdict, each prober's vote and its age,
drains, primary pointers, the leader and recent operator actions`,
    options: { ...CONFIG, json: { type: 'boolean' }, ...REDIS_ARGS, ...SERVER },
    args: [],
    sections: [REDIS_SECTION, SERVER_SECTION],
  },
  report: {
    summary: 'traffic report over a day, week or month, from Prometheus',
    synopsis: 'geosteer report --prometheus URL --period day|week|month [--out DIR] [--json]',
    about: `ask Prometheus (its HTTP API at URL, scraping every serve's /metrics) about the period that ends
now and write DIR/report.html (inline SVG charts), report.md and report.json (DIR default .): queries
and service answers per region and datacenter with total, peak q/s and its hour, each datacenter's
share, failover and fallback minutes, the regions moved most, headroom. Prints the files written, or
with --json the report itself. Needs no recording rules.`,
    options: { prometheus: { type: 'string' }, period: { type: 'string' }, out: { type: 'string', short: 'o' }, json: { type: 'boolean' } },
    args: [],
  },
  keygen: {
    summary: 'make a DNSSEC signing key for a zone (BIND key files)',
    synopsis: 'geosteer keygen ZONE [--dir DIR] [--algorithm 13|15] [--ksk|--zsk]',
    about: `write a new key pair for ZONE into DIR (default .) as BIND writes them: K<zone>.+013+<tag>.key and
.private (mode 0600; "Private-key-format: v1.3"), readable by dnssec-dsfromkey and dnssec-settime.
--algorithm 13 ECDSAP256SHA256 (default) or 15 ED25519. By default a combined signing key (CSK, flags
257) that signs everything; --ksk makes a key-signing key (flags 257, signs the DNSKEY RRset once a ZSK
is there too), --zsk a zone-signing key (flags 256). Prints the files' base name. The map names DIR in
zones.ZONE.dnssec.keys.`,
    options: { dir: { type: 'string', short: 'K' }, algorithm: { type: 'string', short: 'a' }, ksk: { type: 'boolean' }, zsk: { type: 'boolean' } },
    args: ['ZONE'],
  },
  ds: {
    summary: 'the DS records of a zone\'s keys, for the parent zone',
    synopsis: 'geosteer ds ZONE [--dir DIR] [--dnskey]',
    about: `print the DS record (digest type 2, SHA-256) of each key-signing key (flags 257: a KSK or a CSK)
of ZONE found in DIR (default .), one per line, as dnssec-dsfromkey prints them: give them to the
parent zone. --dnskey prints the DNSKEY records instead (a trust anchor for a validating resolver).`,
    options: { dir: { type: 'string', short: 'K' }, dnskey: { type: 'boolean' } },
    args: ['ZONE'],
  },
} as const satisfies Record<string, VerbSpec>;

export type Verb = keyof typeof VERBS;

export const isVerb = (v: string | undefined): v is Verb => v !== undefined && Object.hasOwn(VERBS, v);

const indent = (text: string, by: string): string => text.replace(/^/gm, by);

/** `usage: SYNOPSIS`: what a usage error prints under its message. */
export function verbUsage(verb: Verb): string {
  return `usage: ${VERBS[verb].synopsis}\n(geosteer ${verb} --help for more)`;
}

/** `geosteer VERB --help`. */
export function verbHelp(verb: Verb): string {
  const spec: VerbSpec = VERBS[verb];
  return [`usage: ${spec.synopsis}`, indent(spec.about, '  '), ...(spec.sections ?? []), EXIT_CODES].join('\n');
}

const EXIT_CODES = 'exit: 0 success, 1 failure, 2 usage error; data on stdout, diagnostics on stderr';

/** `geosteer --help`: every verb's synopsis and the first line of what it does. */
export function mainHelp(): string {
  const verbs = (Object.keys(VERBS) as Verb[]).map((v) => `  ${VERBS[v].synopsis}\n        ${VERBS[v].summary}`);
  return [
    'usage:',
    ...verbs,
    '  geosteer --version',
    '  geosteer VERB --help    what VERB does, in full',
    REDIS_SECTION,
    EXIT_CODES,
  ].join('\n');
}

/** True when ARGS ask for help (`--help` or `-h` before a `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** The parse errors of node:util parseArgs, as one short line. */
function parseErrorText(e: NodeJS.ErrnoException): string {
  const m = /^Unknown option '([^']+)'/.exec(e.message);
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && m) return `unknown option ${m[1]}`;
  const p = /^Unexpected argument '([^']*)'/.exec(e.message);
  if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' && p) return `unexpected argument "${p[1]}"`;
  return e.message;
}

/**
 * Parses one verb's arguments against its table entry. Bad usage (unknown option, missing value, too few
 * or too many positionals) throws UsageError, which main prints with the verb's usage (exit 2).
 */
export function parseVerbArgs<V extends Verb>(verb: V, args: string[]) {
  const spec = VERBS[verb];
  let parsed;
  try {
    parsed = parseArgs({ args, options: spec.options as (typeof VERBS)[V]['options'], allowPositionals: true, strict: true });
  } catch (e) {
    if (String((e as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')) throw new UsageError(parseErrorText(e as NodeJS.ErrnoException));
    throw e;
  }
  const names: readonly string[] = spec.args;
  const n = parsed.positionals.length;
  if (n > names.length) throw new UsageError(`unexpected argument "${parsed.positionals[names.length]}"`);
  const missing = names.slice(n).filter((a) => !a.endsWith('?'));
  if (missing.length) throw new UsageError(`missing ${missing.join(' and ')}`);
  return parsed;
}
