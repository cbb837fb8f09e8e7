import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A zone file of `n` records cycling A, AAAA, TXT, MX, CNAME, one owner name
 * each (`nI`): nI is A when I % 5 == 0, AAAA at 1, TXT at 2, MX at 3 (to the
 * A at I - 3), CNAME at 4 (to the A at I - 4). For the large-zone test and
 * bench/big-zone.bench.ts.
 */
export function bigZoneText(n: number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(bigZoneLine(i));
  return parts.join('');
}

export function bigZoneLine(i: number): string {
  const a = (i >> 8) & 255;
  const b = i & 255;
  switch (i % 5) {
    case 0:
      return `n${i} A 10.${(i >> 16) & 255}.${a}.${b}\n`;
    case 1:
      return `n${i} AAAA 2001:db8::${((i >>> 16) + 1).toString(16)}:${(i & 0xffff).toString(16)}\n`; // canonical as dig prints it
    case 2:
      return `n${i} TXT "record ${i}"\n`;
    case 3:
      return `n${i} MX 10 n${i - 3}\n`;
    default:
      return `n${i} CNAME n${i - 4}\n`;
  }
}

/** The expected answer (dig's rdata column) for record `i` in zone `zone`. */
export function bigZoneAnswer(i: number, zone: string): { type: string; rdata: string } {
  const line = bigZoneLine(i).trim().split(' ');
  const type = line[1];
  const rest = line.slice(2).join(' ');
  if (type === 'MX') return { type, rdata: `10 ${line[3]}.${zone}.` };
  if (type === 'CNAME') return { type, rdata: `${rest}.${zone}.` };
  return { type, rdata: rest };
}

/** Writes the zone to `dir/name` and returns the path. Written in chunks: a million lines joined at once is one 40 MB string. */
export function writeBigZone(dir: string, n: number, name = 'big.zone'): string {
  const path = join(dir, name);
  writeFileSync(path, '');
  const chunk = 50_000;
  for (let i = 0; i < n; i += chunk) {
    const parts: string[] = [];
    for (let k = i; k < Math.min(n, i + chunk); k++) parts.push(bigZoneLine(k));
    writeFileSync(path, parts.join(''), { flag: 'a' });
  }
  return path;
}
