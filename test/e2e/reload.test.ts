import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Resolver } from 'node:dns/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildQuery, ecsOption, rcodeOf, udpExchange } from '../helpers/packet';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';

// Hot reload of the map file: a good edit goes live without dropping a query,
// a bad edit of any kind is refused and the last good map keeps serving.

const SAMPLE = readFileSync(DEFAULT_MAP, 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'geosteer-reload-'));
const mapPath = join(dir, 'map.yaml');
let s: TestServer;

/** Replace the file the way editors and deploy tools do: write a temp file, rename it over. */
function install(text: string | Buffer): void {
  const tmp = join(dir, `.map-${Math.random()}`);
  writeFileSync(tmp, text);
  renameSync(tmp, mapPath);
}

/** The map with one 0xff byte in gz's description. */
function notUtf8(t: string): Buffer {
  const b = Buffer.from(t.replace('description: Guangzhou', 'description: Guang~zhou'));
  b[b.indexOf('~')] = 0xff;
  return b;
}

const manyRecords = (n: number): string => Array.from({ length: n }, (_, i) => `      h${i} A 192.0.2.${(i % 250) + 1}\n`).join('');

const gdQuery = (): Buffer => buildQuery({ name: 'www.example.com', id: Math.floor(Math.random() * 65535), edns: { options: [ecsOption('183.6.0.0', 24)] } });

/** The A address in a reply to gdQuery (single answer, last 4 bytes before the OPT record). */
async function gdAnswer(): Promise<string> {
  const r = await udpExchange(s.port, gdQuery());
  assert.ok(r, 'no reply');
  assert.equal(rcodeOf(r), 0);
  const optLen = 11 + 4 + 4 + 3; // OPT + ECS option header + family/prefixes + 3 address bytes
  const a = r.subarray(r.length - optLen - 4, r.length - optLen);
  return [...a].join('.');
}

async function until(check: () => Promise<boolean> | boolean, ms = 15_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

before(async () => {
  install(SAMPLE);
  s = await startServer({ config: mapPath, mapPollMs: 50 });
});
after(async () => {
  await s.close();
});

test('a good edit is applied without dropping a query', async () => {
  assert.equal(await gdAnswer(), '192.0.2.10');
  let sent = 0;
  let failed = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      sent++;
      const r = await udpExchange(s.port, gdQuery(), 1000);
      if (!r || rcodeOf(r) !== 0) failed++;
    }
  })();
  const before = s.reloads.ok;
  install(SAMPLE.replace('gz: { a: [192.0.2.10]', 'gz: { a: [192.0.2.99]'));
  assert.ok(await until(async () => (await gdAnswer()) === '192.0.2.99'), 'new answer live');
  await new Promise((r) => setTimeout(r, 200));
  running = false;
  await loop;
  assert.equal(s.reloads.ok, before + 1);
  assert.ok(sent > 20, `only ${sent} queries sent`);
  assert.equal(failed, 0, `${failed} of ${sent} queries failed during the reload`);
  install(SAMPLE);
  assert.ok(await until(async () => (await gdAnswer()) === '192.0.2.10'));
});

for (const [kind, edit, message] of [
  ['a YAML syntax error', (t: string) => t.replace('datacenters:\n  gz:', 'datacenters:\n gz:'), /map\.yaml:\d+:\d+/],
  ['an unknown key', (t: string) => t.replace('    fallback: first', '    fallbak: first'), /unknown key "fallbak"/],
  ['a dangling reference', (t: string) => t.replace('datacenters: [gz, bj, sg]', 'datacenters: [gz, bj, sh1]'), /unknown datacenter "sh1"/],
  ['a bad address', (t: string) => t.replace('a: [192.0.2.10]', 'a: [192.0.2.300]'), /not an IPv4 address/],
  ['a byte that is not UTF-8', (t: string) => notUtf8(t), /map\.yaml:\d+:\d+: not valid UTF-8 \(byte 0xff\)/],
  ['10000 levels of nesting', (t: string) => `${t}\nextra: ${'['.repeat(10000)}${']'.repeat(10000)}\n`, /nesting deeper than 64 levels/],
  ['a records block over the record limit', (t: string) => 'limits: { zone_records: 100000 }\n' + t.replace('    records: |\n', `    records: |\n${manyRecords(100_001)}`), /more than 100000 records in the zone/],
] as const) {
  test(`${kind} is refused and the old answers stay`, async () => {
    const failedBefore = s.reloads.failed;
    install(edit(SAMPLE.replace('gz: { a: [192.0.2.10]', 'gz: { a: [192.0.2.10]')));
    assert.ok(await until(() => s.reloads.failed === failedBefore + 1), 'reload attempted and refused');
    assert.match(s.reloads.lastError ?? '', message);
    assert.equal(await gdAnswer(), '192.0.2.10');
    install(SAMPLE);
  });
}

test('a burst of writes reloads once', async () => {
  // Start quiet: the last refused-edit test restored the map without waiting, and its reload (a build process
  // each) may still run; a save during it is rightly reloaded once more after it, which is not what this counts.
  // reload() waits for one in flight (and then asks for one more, of an unchanged map): give that one time to end.
  await new Promise((r) => setTimeout(r, 500));
  await s.reload('settle');
  await new Promise((r) => setTimeout(r, 1500));
  const before = s.reloads.ok;
  for (const ip of ['192.0.2.51', '192.0.2.52', '192.0.2.53']) {
    install(SAMPLE.replace('gz: { a: [192.0.2.10]', `gz: { a: [${ip}]`));
    await new Promise((r) => setTimeout(r, 60));
  }
  assert.ok(await until(async () => (await gdAnswer()) === '192.0.2.53'));
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(s.reloads.ok, before + 1, 'three quick saves, one reload');
  install(SAMPLE);
  assert.ok(await until(async () => (await gdAnswer()) === '192.0.2.10'));
});

test('SIGHUP reloads at once', async () => {
  const hupMap = join(dir, 'hup.yaml');
  writeFileSync(hupMap, SAMPLE);
  const h = await startServer({ config: hupMap, mapPollMs: 60_000, handleSignals: true });
  try {
    writeFileSync(hupMap, SAMPLE.replace('gz: { a: [192.0.2.10]', 'gz: { a: [192.0.2.77]'));
    process.kill(process.pid, 'SIGHUP');
    assert.ok(await until(() => h.reloads.ok === 1), 'reloaded on SIGHUP');
    assert.equal(h.map.services[0].addresses[0]?.a[0], '192.0.2.77');
  } finally {
    await h.close();
  }
});

test('a change in a zone file named by the map reloads too', async () => {
  const zoneDir = mkdtempSync(join(tmpdir(), 'geosteer-zone-'));
  const zmap = join(zoneDir, 'map.yaml');
  const zfile = join(zoneDir, 'extra.zone');
  writeFileSync(zfile, 'extra A 192.0.2.201\n');
  writeFileSync(zmap, SAMPLE.replace('    records: |', '    file: extra.zone\n    records: |'));
  const z = await startServer({ config: zmap, mapPollMs: 50 });
  try {
    writeFileSync(zfile, 'extra A 192.0.2.202\n');
    assert.ok(await until(() => z.reloads.ok === 1));
    // The serving map holds no records after a reload (they live in the packed answers): ask the server.
    const r = new Resolver({ timeout: 1000, tries: 1 });
    r.setServers([`127.0.0.1:${z.port}`]);
    assert.deepEqual(await r.resolve4('extra.example.com'), ['192.0.2.202']);
  } finally {
    await z.close();
  }
});
