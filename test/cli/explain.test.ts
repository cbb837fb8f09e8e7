import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCliSync, showRun as show, type CliRun } from '../helpers/cli';

// Tests run from dist/test/cli/: the compiled CLI is dist/src/cli/main.js, the repository root three levels up.
const ROOT = resolve(__dirname, '../../..');
const SAMPLE_PATH = join(ROOT, 'geodata/map.yaml');

const cli = (...args: string[]): CliRun => runCliSync(args);


test('explain 183.6.0.1 www.example.com: Guangdong -> south -> gz, offline with every datacenter up', () => {
  const r = cli('explain', '183.6.0.1', 'www.example.com');
  assert.equal(r.code, 0, show(r));
  assert.equal(r.stderr, '', show(r));
  assert.match(r.stdout, /^# offline: .*geodata\/map\.yaml \(version [0-9a-f]{12}\), city ipv4 \+ city ipv6 built \S+, every datacenter up, no drains$/m);
  assert.match(r.stdout, /^name www\.example\.com$/m);
  assert.match(r.stdout, /^client 183\.6\.0\.1 \(resolver address\)$/m);
  assert.match(r.stdout, /^geoip CN\/CN-GD\/AS network 183\.6\.0\.0\/18$/m);
  assert.match(r.stdout, /^region south by subdivision CN-GD$/m);
  assert.match(r.stdout, /^datacenters gz=up\* bj=up sg=up$/m);
  assert.match(r.stdout, /^chosen gz$/m);
  assert.match(r.stdout, /^scope \/0 ttl 60$/m);
  assert.match(r.stdout, /^server ns1\.example\.com$/m);
});

test('explain 8.8.8.8 (every service): overseas by default, sg', () => {
  const r = cli('explain', '8.8.8.8');
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /^name www\.example\.com$/m);
  assert.match(r.stdout, /^region overseas by default$/m);
  assert.match(r.stdout, /^chosen sg$/m);
});

test('explain --subnet 24: the ECS subnet, its scope', () => {
  const r = cli('explain', '183.6.0.1', 'www.example.com', '--subnet', '24');
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /^client 183\.6\.0\.0 \(ECS 183\.6\.0\.0\/24\)$/m);
  assert.match(r.stdout, /^chosen gz$/m);
  assert.match(r.stdout, /^scope \/11 ttl 60$/m);
});

test('explain a CNAME to a service and a static name', () => {
  const api = cli('explain', '202.96.0.1', 'api.example.com');
  assert.equal(api.code, 0, show(api));
  assert.match(api.stdout, /^service www\.example\.com policy geo$/m);
  assert.match(api.stdout, /^chosen bj$/m);
  const mail = cli('explain', '202.96.0.1', 'mail.example.com');
  assert.equal(mail.code, 0, show(mail));
  assert.match(mail.stdout, /^static answer: same for every client \(scope 0\)$/m);
});

test('explain --json: the explanations as objects', () => {
  const r = cli('explain', '183.6.0.1', '--subnet', '24', '--json');
  assert.equal(r.code, 0, show(r));
  const j = JSON.parse(r.stdout);
  assert.equal(j.explanations.length, 1);
  const e = j.explanations[0];
  assert.equal(e.name, 'www.example.com');
  assert.equal(e.region, 'south');
  assert.equal(e.rule, 'subdivision CN-GD');
  assert.equal(e.chosen, 'gz');
  assert.equal(e.scope, 11);
  assert.equal(e.source, 'ecs');
});

test('explain --config: another map and its rules', () => {
  const text = readFileSync(SAMPLE_PATH, 'utf8').replace('  south:\n', '  south:\n    cidrs: [8.8.8.0/24]\n');
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-explain-'));
  writeFileSync(join(dir, 'map.yaml'), text);
  const r = cli('explain', '8.8.8.8', '--config', join(dir, 'map.yaml'));
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /^region south by cidr 8\.8\.8\.0\/24$/m);
  assert.match(r.stdout, /^chosen gz$/m);
});

test('explain with a bad IP, a bad --subnet, a bad --type or no IP: exit 2', () => {
  const bad = cli('explain', '1.2.3', 'www.example.com');
  assert.equal(bad.code, 2, show(bad));
  assert.equal(bad.stdout, '', show(bad));
  assert.match(bad.stderr, /"1\.2\.3" is not an IPv4 or IPv6 address/);
  const subnet = cli('explain', '1.2.3.4', '--subnet', '33');
  assert.equal(subnet.code, 2, show(subnet));
  assert.match(subnet.stderr, /--subnet must be a prefix length from 1 to 32/);
  const type = cli('explain', '1.2.3.4', 'www.example.com', '--type', 'BOGUS');
  assert.equal(type.code, 2, show(type));
  assert.match(type.stderr, /--type: "BOGUS" is not a record type/);
  const none = cli('explain');
  assert.equal(none.code, 2, show(none));
  assert.match(none.stderr, /usage: geosteer explain IP/);
});

test('explain a name outside the zones: the server answers REFUSED, and explain says so (exit 0)', () => {
  const r = cli('explain', '1.2.3.4', 'www.example.org');
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /^answer REFUSED: www\.example\.org is outside every zone of this server$/m);
});

test('explain with a broken map: exit 1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-explain-'));
  writeFileSync(join(dir, 'map.yaml'), 'regions: [\n');
  const r = cli('explain', '8.8.8.8', '--config', join(dir, 'map.yaml'));
  assert.equal(r.code, 1, show(r));
  assert.match(r.stderr, /error\(s\) in map file/);
});
