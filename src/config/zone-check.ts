import type { ConfigIssue } from '../common/errors';
import type { OwnedRecords as Owned, RData, ZoneRecord } from './records';

/** Records of one name compared pairwise up to this many; past it a Set of rdataKey strings finds duplicates. */
const PAIRWISE = 16;

/**
 * Zone-level rules a zone-file parser cannot see line by line: names outside
 * the zone, CNAME exclusivity (RFC 1034 3.6.2), data hidden below a delegation,
 * one TTL per RRset (RFC 2181 5.2), duplicate records and in-zone name servers
 * without an address. `records[0]` is the apex SOA the map file declared and
 * the `nsCount` apex NS records from its `ns:` key follow it.
 *
 * A million-record zone is mostly names with one record: those get no array,
 * no key string and no Set entry (duplicates can only be within one name).
 * `byName`, when given, is filled with the records by owner name (file order; the table builder reuses it, so
 * a big zone gets one such Map, not two): complete when no issue is returned.
 */
export function checkZone(zone: string, records: ZoneRecord[], nsCount: number, path: string, byName = new Map<string, Owned>()): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const bad = (rec: ZoneRecord, message: string): void => {
    issues.push({ file: rec.file, line: rec.line, col: 1, path, message });
  };
  const dotZone = '.' + zone;
  /** The rdataKeys of names with more than PAIRWISE records. */
  const keys = new Map<string, Set<string>>();
  for (let i = 0; i < records.length; i++) {
    const rec = records[i];
    const name = rec.name;
    if (name !== zone && !name.endsWith(dotZone)) {
      bad(rec, `${name || '.'} is outside zone ${zone}`);
      continue;
    }
    if (i > 0 && rec.rdata.type === 'SOA') {
      bad(rec, 'SOA records belong in the zone\'s "soa:" key, not in its records');
      continue;
    }
    const had = byName.get(name);
    if (had === undefined) {
      byName.set(name, rec);
      continue;
    }
    if (!Array.isArray(had)) {
      if (sameRdata(had.rdata, rec.rdata)) {
        bad(rec, `duplicate record: ${name} ${rec.rdata.type}`);
        continue;
      }
      byName.set(name, [had, rec]);
      continue;
    }
    if (isDuplicate(had, rec, keys)) {
      bad(rec, `duplicate record: ${name} ${rec.rdata.type}`);
      continue;
    }
    had.push(rec);
  }

  const cuts = new Set<string>();
  for (const [name, owned] of byName) {
    if (name === zone) continue;
    if (Array.isArray(owned) ? owned.some((r) => r.rdata.type === 'NS') : owned.rdata.type === 'NS') cuts.add(name);
  }
  for (let i = nsCount + 1; i < records.length; i++) {
    const rec = records[i];
    if (rec.rdata.type === 'NS' && rec.name === zone) bad(rec, 'apex NS records belong in the zone\'s "ns:" key');
  }

  const one: ZoneRecord[] = [];
  for (const [name, owned] of byName) {
    let list: ZoneRecord[];
    if (Array.isArray(owned)) list = owned;
    else {
      // The rules below for a name with one record, without a Set or a filtered copy; `one` is reused.
      const t = owned.rdata.type;
      if (t === 'CNAME' && name === zone) bad(owned, 'a CNAME cannot sit at the zone apex (it would hide the SOA and NS)');
      if (t === 'A' || t === 'AAAA' || cuts.size === 0) continue;
      if (t !== 'NS' && cuts.has(name)) bad(owned, `${name} is delegated (NS); only NS and glue A/AAAA may sit there`);
      one[0] = owned;
      below(name, one);
      continue;
    }
    const types = new Set(list.map((r) => r.rdata.type));
    if (types.has('CNAME')) {
      // Point at the CNAME itself: at the apex list[0] is the SOA (the zone's key line).
      const cname = list.find((r) => r.rdata.type === 'CNAME') as ZoneRecord;
      if (name === zone) bad(cname, 'a CNAME cannot sit at the zone apex (it would hide the SOA and NS)');
      else if (types.size > 1 || list.length > 1) bad(cname, `${name} has a CNAME and other records; a CNAME must be alone (RFC 1034)`);
    }
    for (const type of types) {
      const set = list.filter((r) => r.rdata.type === type);
      const odd = set.find((r) => r.ttl !== set[0].ttl);
      if (odd) bad(odd, `${name} ${type}: all records of one RRset need the same TTL (RFC 2181)`);
    }
    if (cuts.has(name) && [...types].some((t) => t !== 'NS' && t !== 'A' && t !== 'AAAA')) {
      bad(list.find((r) => r.rdata.type !== 'NS') ?? list[0], `${name} is delegated (NS); only NS and glue A/AAAA may sit there`);
    }
    if (cuts.size && [...types].some((t) => t !== 'A' && t !== 'AAAA')) below(name, list);
  }
  /** The name's ancestors, not every cut: a zone of many delegations would make this names x cuts. */
  function below(name: string, list: ZoneRecord[]): void {
    for (let up = name; up !== zone && up.includes('.'); ) {
      up = up.slice(up.indexOf('.') + 1);
      if (up !== zone && cuts.has(up)) bad(list[0], `${name} is below the delegation ${up}; only glue A/AAAA may sit there`);
    }
  }
  for (const rec of records) {
    if (rec.rdata.type !== 'NS') continue;
    const t = rec.rdata.target;
    if (t !== zone && !t.endsWith(dotZone)) continue;
    const owned = byName.get(t);
    const glued = owned === undefined ? false : Array.isArray(owned) ? owned.some(isAddress) : isAddress(owned);
    if (!glued) bad(rec, `name server ${t} is inside ${zone} but has no A or AAAA record (glue)`);
  }
  return issues;
}

function isAddress(r: ZoneRecord): boolean {
  return r.rdata.type === 'A' || r.rdata.type === 'AAAA';
}

/** Whether `rec` repeats one of `list` (one name's records); past PAIRWISE records, by a Set of keys kept in `keys`. */
function isDuplicate(list: ZoneRecord[], rec: ZoneRecord, keys: Map<string, Set<string>>): boolean {
  if (list.length < PAIRWISE) {
    for (const r of list) if (sameRdata(r.rdata, rec.rdata)) return true;
    return false;
  }
  let set = keys.get(rec.name);
  if (!set) keys.set(rec.name, (set = new Set(list.map((r) => rdataKey(r.rdata)))));
  const key = rdataKey(rec.rdata);
  if (set.has(key)) return true;
  set.add(key);
  return false;
}

/** rdataKey(a) === rdataKey(b), without making the strings. */
function sameRdata(a: RData, b: RData): boolean {
  switch (a.type) {
    case 'A':
    case 'AAAA':
      return b.type === a.type && a.address === b.address;
    case 'CNAME':
    case 'NS':
    case 'PTR':
      return b.type === a.type && a.target === b.target;
    case 'MX':
      return b.type === 'MX' && a.preference === b.preference && a.exchange === b.exchange;
    case 'TXT': {
      if (b.type !== 'TXT' || a.strings.length !== b.strings.length) return false;
      for (let i = 0; i < a.strings.length; i++) if (!a.strings[i].equals(b.strings[i])) return false;
      return true;
    }
    case 'SRV':
      return b.type === 'SRV' && a.priority === b.priority && a.weight === b.weight && a.port === b.port && a.target === b.target;
    case 'CAA':
      return b.type === 'CAA' && a.flags === b.flags && a.tag === b.tag && a.value === b.value;
    case 'SOA':
      return rdataKey(a) === rdataKey(b);
  }
}

/** One string per distinct RDATA of a type, for the duplicate check (JSON.stringify of a TXT's Buffers cost seconds per million records). */
function rdataKey(d: RData): string {
  switch (d.type) {
    case 'A':
    case 'AAAA':
      return `${d.type} ${d.address}`;
    case 'CNAME':
    case 'NS':
    case 'PTR':
      return `${d.type} ${d.target}`;
    case 'MX':
      return `MX ${d.preference} ${d.exchange}`;
    case 'TXT':
      // Length-prefixed so ["ab", "c"] and ["a", "bc"] differ.
      return `TXT ${d.strings.map((b) => `${b.length}:${b.toString('latin1')}`).join('')}`;
    case 'SRV':
      return `SRV ${d.priority} ${d.weight} ${d.port} ${d.target}`;
    case 'CAA':
      return `CAA ${d.flags} ${d.tag.length}:${d.tag}${d.value}`;
    case 'SOA':
      return `SOA ${d.mname} ${d.rname} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
  }
}
