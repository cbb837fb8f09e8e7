import type { ConfigIssue } from '../common/errors';
import type { RData, ZoneRecord } from './records';

/**
 * Zone-level rules a zone-file parser cannot see line by line: names outside
 * the zone, CNAME exclusivity (RFC 1034 3.6.2), data hidden below a delegation,
 * one TTL per RRset (RFC 2181 5.2), duplicate records and in-zone name servers
 * without an address. `records[0]` is the apex SOA the map file declared and
 * the `nsCount` apex NS records from its `ns:` key follow it.
 */
export function checkZone(zone: string, records: ZoneRecord[], nsCount: number, path: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const bad = (rec: ZoneRecord, message: string): void => {
    issues.push({ file: rec.file, line: rec.line, col: 1, path, message });
  };
  const byName = new Map<string, ZoneRecord[]>();
  const seen = new Set<string>();
  records.forEach((rec, i) => {
    if (rec.name !== zone && !rec.name.endsWith('.' + zone)) {
      bad(rec, `${rec.name || '.'} is outside zone ${zone}`);
      return;
    }
    if (i > 0 && rec.rdata.type === 'SOA') {
      bad(rec, 'SOA records belong in the zone\'s "soa:" key, not in its records');
      return;
    }
    const key = `${rec.name} ${rdataKey(rec.rdata)}`;
    if (seen.has(key)) {
      bad(rec, `duplicate record: ${rec.name} ${rec.rdata.type}`);
      return;
    }
    seen.add(key);
    let list = byName.get(rec.name);
    if (!list) byName.set(rec.name, (list = []));
    list.push(rec);
  });

  const cuts = new Set<string>();
  for (const [name, list] of byName) {
    if (name !== zone && list.some((r) => r.rdata.type === 'NS')) cuts.add(name);
  }
  records.forEach((rec, i) => {
    if (i > nsCount && rec.rdata.type === 'NS' && rec.name === zone) bad(rec, 'apex NS records belong in the zone\'s "ns:" key');
  });

  for (const [name, list] of byName) {
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
    // The name's ancestors, not every cut: a zone of many delegations would make this names x cuts.
    if (cuts.size && [...types].some((t) => t !== 'A' && t !== 'AAAA')) {
      for (let up = name; up !== zone && up.includes('.'); ) {
        up = up.slice(up.indexOf('.') + 1);
        if (up !== zone && cuts.has(up)) bad(list[0], `${name} is below the delegation ${up}; only glue A/AAAA may sit there`);
      }
    }
  }
  for (const rec of records) {
    if (rec.rdata.type !== 'NS') continue;
    const t = rec.rdata.target;
    if ((t === zone || t.endsWith('.' + zone)) && !(byName.get(t) ?? []).some((r) => r.rdata.type === 'A' || r.rdata.type === 'AAAA')) {
      bad(rec, `name server ${t} is inside ${zone} but has no A or AAAA record (glue)`);
    }
  }
  return issues;
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
