import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { runCli, showRun } from '../helpers/cli';
import { dig, type DigResult } from '../helpers/dig';
import { DEFAULT_MAP, startServer, writeTemp, type TestServer } from '../helpers/server';

// `geosteer explain IP NAME --type T` must say what a real `serve` answers: for every class of name in
// the map (service, CNAME to a service, static, apex, empty non-terminal, NXDOMAIN, NODATA, a CNAME chain
// leaving the zone or ending in NXDOMAIN, a delegation and a name below it, outside every zone), the
// rcode and every record of the answer, authority and additional sections agree with dig's, and with
// an ECS subnet the scope does too. The map is the sample plus the records below.

const extra = [
  'sub        NS     ns.sub',
  'sub        NS     ns.elsewhere.net.',
  'ns.sub     A      192.0.2.53',
  'c1         CNAME  c2',
  'c2         CNAME  api',
  'out        CNAME  www.example.net.',
  'dangling   CNAME  missing',
];
let s: TestServer;
let mapPath: string;
before(async () => {
  const text = readFileSync(DEFAULT_MAP, 'utf8').replace(
    '      sip        A      192.0.2.26\n',
    `      sip        A      192.0.2.26\n${extra.map((l) => '      ' + l).join('\n')}\n`,
  );
  mapPath = writeTemp('map.yaml', text);
  s = await startServer({ config: mapPath });
});
after(async () => {
  await s.close();
});

interface ExplainJson {
  explanations: Array<{
    qtype: string;
    scope: number;
    chosen: string | null;
    answer: { kind: string; rcode: string; aa: boolean; answer: string[]; authority: string[]; additional: string[] };
  }>;
}

/** dig's records as `owner ttl TYPE rdata`, names without the trailing dot (explain's spelling). */
function records(rows: string[][]): string[] {
  return rows.map(([owner, ttl, , type, ...rdata]) => [owner.replace(/\.$/, ''), ttl, type, ...rdata.map((t) => t.replace(/\.$/, ''))].join(' '));
}

async function compare(name: string, type: string, subnet: string | null): Promise<{ d: DigResult; kind: string }> {
  const digArgs = [name, type, '+norecurse'];
  const explainArgs = ['explain', '127.0.0.1', name, '--type', type, '--config', mapPath, '--json'];
  if (subnet !== null) {
    const [ip, len] = subnet.split('/');
    digArgs.push(`+subnet=${subnet}`);
    explainArgs.splice(1, 1, ip);
    explainArgs.push('--subnet', len);
  }
  const [d, r] = await Promise.all([dig(s.port, digArgs), runCli(explainArgs, { timeoutMs: 30_000 })]);
  assert.equal(r.code, 0, showRun(r));
  const e = (JSON.parse(r.stdout) as ExplainJson).explanations[0];
  const what = `${name} ${type}${subnet ? ` from ${subnet}` : ''}\n${d.raw}\n${r.stdout}`;
  assert.equal(e.qtype, type, what);
  assert.equal(e.answer.rcode, d.status, what);
  assert.equal(e.answer.aa, d.flags.includes('aa'), what);
  assert.deepEqual(e.answer.answer, records(d.answer), what);
  assert.deepEqual(e.answer.authority, records(d.authority), what);
  assert.deepEqual(e.answer.additional, records(d.additional), what);
  if (subnet !== null && d.ecs !== null) assert.equal(e.scope, d.ecs.scope, what);
  return { d, kind: e.answer.kind };
}

const cases: Array<[name: string, type: string, kind: string]> = [
  ['www.example.com', 'A', 'records'], // service
  ['www.example.com', 'AAAA', 'records'],
  ['www.example.com', 'MX', 'nodata'], // service name, a type it does not have
  ['api.example.com', 'A', 'records'], // CNAME to the service
  ['c1.example.com', 'AAAA', 'records'], // chain of CNAMEs to the service
  ['mail.example.com', 'A', 'records'], // static
  ['mail.example.com', 'TXT', 'nodata'],
  ['example.com', 'A', 'nodata'], // apex: no A
  ['example.com', 'MX', 'records'],
  ['example.com', 'NS', 'records'],
  ['example.com', 'SOA', 'records'],
  ['example.com', 'CAA', 'records'],
  ['example.com', 'ANY', 'records'],
  ['_sip._udp.example.com', 'SRV', 'records'],
  ['_udp.example.com', 'A', 'nodata'], // empty non-terminal (RFC 8020)
  ['nosuch.example.com', 'A', 'nxdomain'],
  ['dangling.example.com', 'A', 'nxdomain'], // CNAME into a name that does not exist
  ['out.example.com', 'A', 'records'], // CNAME leaving our zones
  ['sub.example.com', 'A', 'referral'], // delegation point
  ['host.sub.example.com', 'AAAA', 'referral'], // below it
  ['sub.example.com', 'DS', 'nodata'], // DS is the parent's: NODATA, authoritative
  ['nosuch.org', 'A', 'refused'], // outside every zone
];

// Each explain is a process that loads the GeoIP database: run a few at once.
describe('explain agrees with dig', { concurrency: 2 }, () => {
for (const [name, type, kind] of cases) {
  test(`explain ${name} ${type} says what dig gets from serve (${kind})`, async () => {
    const r = await compare(name, type, null);
    assert.equal(r.kind, kind);
  });
}

for (const subnet of ['183.6.0.0/24', '202.96.0.0/24', '8.8.8.0/24']) {
  for (const [name, type] of [
    ['www.example.com', 'A'],
    ['api.example.com', 'AAAA'],
    ['mail.example.com', 'A'],
    ['nosuch.example.com', 'A'],
  ]) {
    test(`explain ${name} ${type} with ECS ${subnet}: the same records and scope as dig +subnet`, async () => {
      await compare(name, type, subnet);
    });
  }
}

});

test('explain nosuch.example.com: the text says NXDOMAIN, not "static answer"', async () => {
  const r = await runCli(['explain', '183.6.0.1', 'nosuch.example.com', '--config', mapPath], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, showRun(r));
  assert.match(r.stdout, /^answer NXDOMAIN: no such name \(SOA in authority\)$/m);
  assert.doesNotMatch(r.stdout, /static answer/);
});
