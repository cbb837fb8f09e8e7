import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { bigZoneAnswer, writeBigZone } from '../helpers/big-zone';
import { dig } from '../helpers/dig';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';

// A zone file of 100,000 mixed records (A, AAAA, TXT, MX, CNAME) loads in a
// real serve and answers (issue 15 §2: 200,000 records used to overflow the
// stack; the million-record figures are in bench/big-zone.bench.ts).

const N = 100_000;
const dir = mkdtempSync(join(tmpdir(), 'geosteer-big-zone-'));
let s: TestServer;

before(async () => {
  writeBigZone(dir, N);
  const map = join(dir, 'map.yaml');
  writeFileSync(map, readFileSync(DEFAULT_MAP, 'utf8').replace('    records: |', '    file: big.zone\n    records: |'));
  s = await startServer({ config: map });
});
after(async () => {
  await s?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the 100,000 records are all in the loaded zone', () => {
  const zone = s.map.zones.find((z) => z.name === 'example.com');
  assert.ok(zone);
  assert.equal(zone.records.filter((r) => /^n\d+\.example\.com$/.test(r.name)).length, N);
});

// First, middle and last of each type (i % 5 picks the type).
for (const i of [0, 1, 2, 3, 4, 50_000, 50_001, 50_002, 50_003, 50_004, N - 5, N - 4, N - 3, N - 2, N - 1]) {
  const { type, rdata } = bigZoneAnswer(i, 'example.com');
  test(`dig n${i}.example.com ${type} answers ${rdata}`, async () => {
    const r = await dig(s.port, [`n${i}.example.com`, type]);
    assert.equal(r.status, 'NOERROR');
    assert.ok(r.flags.includes('aa'));
    const rr = r.answer.find((a) => a[3] === type);
    assert.ok(rr, r.raw);
    assert.equal(rr.slice(4).join(' '), rdata);
  });
}

test('a CNAME to a record of the big zone is followed to its address', async () => {
  const r = await dig(s.port, ['n99999.example.com', 'A']);
  assert.deepEqual(r.answer.map((a) => a[3]), ['CNAME', 'A']);
  assert.equal(r.answer[1][4], '10.1.134.155');
});

test('a name past the end of the zone is NXDOMAIN with the SOA', async () => {
  const r = await dig(s.port, [`n${N}.example.com`, 'A']);
  assert.equal(r.status, 'NXDOMAIN');
  assert.equal(r.authority[0]?.[3], 'SOA');
});
