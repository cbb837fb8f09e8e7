import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { dig, type DigResult } from '../helpers/dig';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';

// Debugging by dig, against real listening servers: `_explain.NAME TXT`,
// the CHAOS names (id.server, hostname.bind, version.bind) and NSID.

const GD = '183.6.0.0/24'; // CN-GD
const BJ = '202.96.0.0/24'; // CN-BJ
const US = '8.8.8.0/24'; // US

/** The TXT strings of the answer, one per record, quotes removed. */
function txt(r: DigResult): string[] {
  return r.raw
    .split('\n')
    .filter((l) => !l.startsWith(';') && /\tTXT\t/.test(l))
    .map((l) => l.slice(l.indexOf('\tTXT\t') + 5).replace(/^"|"$/g, ''));
}

/** The line of the explanation that starts with `key `. */
function line(lines: string[], key: string): string {
  const l = lines.find((x) => x.startsWith(key + ' '));
  assert.ok(l !== undefined, `no "${key}" line in:\n${lines.join('\n')}`);
  return l;
}

const explainOf = async (port: number, name: string, ...args: string[]): Promise<{ r: DigResult; lines: string[] }> => {
  const r = await dig(port, [`_explain.${name}`, 'TXT', ...args]);
  return { r, lines: txt(r) };
};

let s: TestServer;
/** Sample map with `server: { explain_acl: [10.0.0.0/8], version: hidden }` and 40 A records on big.example.com. */
let restricted: TestServer;

before(async () => {
  s = await startServer();
  const sample = readFileSync(DEFAULT_MAP, 'utf8');
  const big = Array.from({ length: 40 }, (_, i) => `      big        A      192.0.2.${i + 1}`).join('\n');
  const text = sample
    .replace('  id: ns1.example.com\n', '  id: ns2.example.com\n  explain_acl: [10.0.0.0/8]\n  version: hidden\n')
    .replace('      sip        A      192.0.2.26\n', `      sip        A      192.0.2.26\n${big}\n`);
  assert.notEqual(text, sample);
  restricted = await startServer({ mapText: text });
});
after(async () => {
  await s.close();
  await restricted.close();
});

describe('_explain.NAME TXT', () => {
  test('a Guangdong subnet: region south by subdivision CN-GD, gz chosen, scope and TTL, server id', async () => {
    const { r, lines } = await explainOf(s.port, 'www.example.com', `+subnet=${GD}`);
    assert.equal(r.status, 'NOERROR');
    assert.ok(r.flags.includes('aa'), 'authoritative');
    assert.equal(line(lines, 'name'), 'name www.example.com');
    assert.equal(line(lines, 'client'), 'client 183.6.0.0 (ECS 183.6.0.0/24)');
    assert.equal(line(lines, 'geoip'), 'geoip CN/CN-GD/AS network 183.6.0.0/18');
    assert.equal(line(lines, 'region'), 'region south by subdivision CN-GD');
    assert.equal(line(lines, 'datacenters'), 'datacenters gz=up* bj=up sg=up');
    assert.equal(line(lines, 'chosen'), 'chosen gz');
    assert.equal(line(lines, 'scope'), 'scope /11 ttl 60', 'the scope and TTL the real answer carries');
    assert.equal(line(lines, 'server'), 'server ns1.example.com');
    // Every TXT record has TTL 0 and the reply's own ECS scope is 0: never cached for other clients.
    assert.deepEqual([...new Set(r.answer.map((a) => a[1]))], ['0']);
    assert.deepEqual(r.ecs, { address: '183.6.0.0', source: 24, scope: 0 });
  });

  test('a Beijing subnet: north, bj', async () => {
    const { lines } = await explainOf(s.port, 'www.example.com', `+subnet=${BJ}`);
    // Beijing (CN-BJ) is in no region's subdivisions: north by the country rule.
    assert.equal(line(lines, 'region'), 'region north by country CN');
    assert.equal(line(lines, 'datacenters'), 'datacenters bj=up* gz=up sg=up');
    assert.equal(line(lines, 'chosen'), 'chosen bj');
    assert.equal(line(lines, 'scope'), 'scope /18 ttl 60');
  });

  test('a US subnet: overseas, sg', async () => {
    const { lines } = await explainOf(s.port, 'www.example.com', `+subnet=${US}`);
    assert.match(line(lines, 'region'), /^region overseas by /);
    assert.equal(line(lines, 'chosen'), 'chosen sg');
    assert.equal(line(lines, 'scope'), 'scope /9 ttl 60');
  });

  test('an IPv6 client subnet is explained in its own family', async () => {
    const { lines } = await explainOf(s.port, 'www.example.com', '+subnet=2001:4860:4860::/56');
    assert.equal(line(lines, 'client'), 'client 2001:4860:4860:: (ECS 2001:4860:4860::/56)');
    assert.equal(line(lines, 'chosen'), 'chosen sg');
  });

  test('without +subnet the resolver address decides: 127.0.0.1, default region overseas, no ECS echoed', async () => {
    const { r, lines } = await explainOf(s.port, 'www.example.com');
    assert.equal(line(lines, 'client'), 'client 127.0.0.1 (resolver address)');
    assert.equal(line(lines, 'region'), 'region overseas by default');
    assert.equal(line(lines, 'chosen'), 'chosen sg');
    assert.equal(r.ecs, null);
  });

  test('a down datacenter shows in the list and the next one is chosen', async () => {
    const vote = (up: boolean): Promise<void> =>
      s.store.writeVote({ prober: 't', service: 'www.example.com', dc: 'gz', up, ttlMs: 600_000, detail: 'test', latencyMs: 0 });
    await vote(false);
    try {
      const { lines } = await explainOf(s.port, 'www.example.com', `+subnet=${GD}`);
      assert.equal(line(lines, 'datacenters'), 'datacenters gz=down bj=up* sg=up');
      assert.equal(line(lines, 'chosen'), 'chosen bj');
      assert.equal(line(lines, 'scope'), 'scope /11 ttl 30', 'moved off the first choice: failover TTL');
      // The real answer agrees with the explanation.
      const a = await dig(s.port, ['www.example.com', 'A', `+subnet=${GD}`]);
      assert.deepEqual(a.answer.map((x) => x[4]), ['198.51.100.10']);
    } finally {
      await vote(true);
    }
  });

  test('a drained datacenter shows as drained', async () => {
    await s.store.setDrain({ dc: 'gz', service: 'www.example.com', forMs: 600_000, reason: 'test', by: 'test' });
    try {
      await new Promise((r) => setTimeout(r, 50));
      const { lines } = await explainOf(s.port, 'www.example.com', `+subnet=${GD}`);
      assert.equal(line(lines, 'datacenters'), 'datacenters gz=drained bj=up* sg=up');
      assert.equal(line(lines, 'chosen'), 'chosen bj');
    } finally {
      await s.store.clearDrain('www.example.com', 'gz');
    }
  });

  test('a static name says so', async () => {
    const { r, lines } = await explainOf(s.port, 'mail.example.com', `+subnet=${GD}`);
    assert.equal(r.status, 'NOERROR');
    assert.ok(lines.some((l) => l.startsWith('static answer')), lines.join('\n'));
    assert.equal(line(lines, 'server'), 'server ns1.example.com');
  });

  test('the question keeps its case (0x20) and the name is matched case-insensitively', async () => {
    const r = await dig(s.port, ['_EXPLAIN.Www.Example.COM', 'TXT', `+subnet=${GD}`]);
    assert.equal(r.status, 'NOERROR');
    assert.match(r.raw, /^_EXPLAIN\.Www\.Example\.COM\.\s+0\s+IN\s+TXT\s+"name www\.example\.com"$/m);
  });

  test('over TCP too', async () => {
    const { r, lines } = await explainOf(s.port, 'www.example.com', `+subnet=${GD}`, '+tcp');
    assert.equal(r.status, 'NOERROR');
    assert.equal(line(lines, 'chosen'), 'chosen gz');
  });

  test('a name outside our zones is REFUSED', async () => {
    const { r } = await explainOf(s.port, 'nope.example.org');
    assert.equal(r.status, 'REFUSED');
  });

  test('another type at an _explain name is NODATA with the zone SOA at TTL 0', async () => {
    const r = await dig(s.port, ['_explain.www.example.com', 'A']);
    assert.equal(r.status, 'NOERROR');
    assert.equal(r.answer.length, 0);
    assert.deepEqual(r.authority.map((a) => [a[0], a[1], a[3]]), [['example.com.', '0', 'SOA']]);
  });

  test('a source outside server.explain_acl is REFUSED (the ACL checks the resolver, not the ECS subnet)', async () => {
    const plain = await explainOf(restricted.port, 'www.example.com');
    assert.equal(plain.r.status, 'REFUSED');
    assert.equal(plain.lines.length, 0);
    const viaEcs = await explainOf(restricted.port, 'www.example.com', '+subnet=10.1.2.0/24');
    assert.equal(viaEcs.r.status, 'REFUSED');
  });
});

describe('CHAOS names', () => {
  test('CH TXT id.server and hostname.bind answer server.id', async () => {
    for (const name of ['id.server', 'hostname.bind', 'ID.SERVER']) {
      const r = await dig(s.port, ['CH', 'TXT', name]);
      assert.equal(r.status, 'NOERROR', name);
      assert.ok(r.flags.includes('aa'));
      assert.deepEqual(r.answer.map((a) => [a[2], a[3]]), [['CH', 'TXT']]);
      assert.deepEqual(txt(r), ['ns1.example.com'], name);
    }
  });

  test('CH TXT version.bind and version.server answer "geosteer VERSION"', async () => {
    const { version } = JSON.parse(readFileSync(`${__dirname}/../../../package.json`, 'utf8')) as { version: string };
    for (const name of ['version.bind', 'version.server']) {
      const r = await dig(s.port, ['CH', 'TXT', name]);
      assert.deepEqual(txt(r), [`geosteer ${version}`], name);
    }
  });

  test('server.version: hidden refuses the version names; id.server still answers', async () => {
    assert.equal((await dig(restricted.port, ['CH', 'TXT', 'version.bind'])).status, 'REFUSED');
    assert.equal((await dig(restricted.port, ['CH', 'TXT', 'version.server'])).status, 'REFUSED');
    assert.deepEqual(txt(await dig(restricted.port, ['CH', 'TXT', 'id.server'])), ['ns2.example.com']);
  });

  test('other CH names are REFUSED; another type at a CH name is an empty NOERROR', async () => {
    assert.equal((await dig(s.port, ['CH', 'TXT', 'authors.bind'])).status, 'REFUSED');
    assert.equal((await dig(s.port, ['CH', 'TXT', 'www.example.com'])).status, 'REFUSED');
    const a = await dig(s.port, ['CH', 'A', 'id.server']);
    assert.equal(a.status, 'NOERROR');
    assert.equal(a.answer.length, 0);
  });

  test('classes other than IN and CH are still REFUSED', async () => {
    assert.equal((await dig(s.port, ['HS', 'TXT', 'id.server'])).status, 'REFUSED');
  });
});

describe('NSID (RFC 5001)', () => {
  const NSID = /^; NSID: ([0-9a-f ]+) \("ns1\.example\.com"\)$/m;

  test('dig +nsid gets the server id in the OPT, with the normal answer unchanged', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', `+subnet=${GD}`, '+nsid']);
    assert.match(r.raw, NSID);
    assert.equal(NSID.exec(r.raw)?.[1], Buffer.from('ns1.example.com').toString('hex').replace(/(..)(?!$)/g, '$1 '));
    assert.deepEqual(r.answer.map((a) => a[4]), ['192.0.2.10']);
    assert.deepEqual(r.ecs, { address: '183.6.0.0', source: 24, scope: 11 });
  });

  test('a query without +nsid gets no NSID, and the answer is the same', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', `+subnet=${GD}`]);
    assert.doesNotMatch(r.raw, /NSID/);
    assert.deepEqual(r.answer.map((a) => a[4]), ['192.0.2.10']);
    assert.deepEqual(r.ecs, { address: '183.6.0.0', source: 24, scope: 11 });
  });

  test('NSID over TCP, in REFUSED replies and in NXDOMAIN replies', async () => {
    assert.match((await dig(s.port, ['www.example.com', 'A', '+nsid', '+tcp'])).raw, NSID);
    const refused = await dig(s.port, ['www.example.org', 'A', '+nsid']);
    assert.equal(refused.status, 'REFUSED');
    assert.match(refused.raw, NSID);
    const nx = await dig(s.port, ['nope.example.com', 'A', '+nsid']);
    assert.equal(nx.status, 'NXDOMAIN');
    assert.match(nx.raw, NSID);
  });

  test('a truncated (TC) reply carries NSID too', async () => {
    const r = await dig(restricted.port, ['big.example.com', 'A', '+nsid', '+bufsize=512', '+ignore']);
    assert.ok(r.flags.includes('tc'), r.raw);
    assert.match(r.raw, /^; NSID: .* \("ns2\.example\.com"\)$/m);
  });
});
