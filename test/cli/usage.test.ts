import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { VERBS, type Verb } from '../../src/cli/verbs';
import { CLI, runCliSync, showRun as show, withoutStaleWarning, type CliRun } from '../helpers/cli';

// The CLI as a new user meets it: --help for every verb, usage errors, --version, a missing map,
// a closed stdout (`| head`), and the `geosteer` bin that npm links.

const ROOT = resolve(__dirname, '../../..');
const BIN = join(ROOT, 'bin/geosteer.js');
const MAP = join(ROOT, 'geodata/map.yaml');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const verbs = Object.keys(VERBS) as Verb[];
const cli = (...args: string[]): CliRun => runCliSync(args);

test('every verb has --help (and -h, and `help VERB`): its usage on stdout, exit 0', () => {
  assert.deepEqual(verbs.sort(), ['check', 'drain', 'ds', 'explain', 'history', 'keygen', 'probe', 'promote', 'publish', 'recover', 'report', 'rollback', 'serve', 'state', 'status', 'undrain']);
  for (const verb of verbs) {
    for (const args of [[verb, '--help'], [verb, '-h'], ['help', verb], [verb, 'some-arg', '--bogus', '--help']]) {
      const r = cli(...args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${show(r)}`);
      assert.equal(r.stderr, '', `${args.join(' ')}: ${show(r)}`);
      assert.ok(r.stdout.startsWith(`usage: geosteer ${verb} `) || r.stdout.startsWith(`usage: geosteer ${verb}\n`), `${args.join(' ')}: ${show(r)}`);
      assert.match(r.stdout, /^exit: 0 success, 1 failure, 2 usage error/m);
    }
  }
  // Every option the verb accepts is named in its help.
  for (const verb of verbs) {
    const help = cli(verb, '--help').stdout;
    for (const flag of Object.keys(VERBS[verb].options)) assert.ok(help.includes(`--${flag}`), `geosteer ${verb} --help does not mention --${flag}`);
  }
});

test('geosteer --help lists every verb on stdout (exit 0); no verb at all: the same on stderr, exit 2', () => {
  const help = cli('--help');
  assert.equal(help.code, 0, show(help));
  for (const verb of verbs) assert.match(help.stdout, new RegExp(`^  geosteer ${verb} `, 'm'));
  const none = cli();
  assert.equal(none.code, 2, show(none));
  assert.equal(none.stdout, '');
  assert.equal(none.stderr.trim(), help.stdout.trim());
});

test('geosteer --version (and -V, version) prints the package version, exit 0', () => {
  for (const flag of ['--version', '-V', 'version']) {
    const r = cli(flag);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, `geosteer ${VERSION}\n`);
  }
});

test('an unknown verb: exit 2, the verb named and the usage on stderr', () => {
  const r = cli('frobnicate', '--help');
  assert.equal(r.code, 2, show(r));
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^geosteer: unknown command "frobnicate"\nusage:\n {2}geosteer serve /);
});

test('an unknown option to any verb: exit 2, one line naming it, then that verb\'s usage', () => {
  const args: Record<Verb, string[]> = {
    serve: [],
    check: [MAP],
    explain: ['1.2.3.4'],
    probe: [],
    drain: ['gz'],
    undrain: ['gz'],
    promote: ['db.example.com', 'bj'],
    status: [],
    publish: [MAP],
    history: [],
    rollback: [],
    state: ['export'],
    recover: [],
    report: [],
    keygen: ['example.org'],
    ds: ['example.org'],
  };
  for (const verb of verbs) {
    const r = cli(verb, ...args[verb], '--bogus');
    assert.equal(r.code, 2, `${verb}: ${show(r)}`);
    assert.equal(r.stdout, '', `${verb}: ${show(r)}`);
    assert.equal(r.stderr, `geosteer ${verb}: unknown option --bogus\nusage: ${VERBS[verb].synopsis}\n(geosteer ${verb} --help for more)\n`, `${verb}: ${show(r)}`);
  }
});

test('a missing or extra argument: exit 2, what is wrong, then the usage', () => {
  const cases: Array<[string[], string]> = [
    [['check'], 'missing FILE'],
    [['check', MAP, MAP], `unexpected argument "${MAP}"`],
    [['explain'], 'missing IP'],
    [['keygen'], 'missing ZONE'],
    [['ds'], 'missing ZONE'],
    [['drain'], 'missing DC'],
    [['undrain'], 'missing DC'],
    [['promote', 'db.example.com'], 'missing DC'],
    [['promote'], 'missing SERVICE and DC'],
    [['status', 'extra'], 'unexpected argument "extra"'],
    [['serve', 'geodata/map.yaml'], 'unexpected argument "geodata/map.yaml"'],
    [['check', MAP, '--against'], "Option '--against <value>' argument missing"],
  ];
  for (const [args, message] of cases) {
    const r = cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${show(r)}`);
    assert.ok(r.stderr.startsWith(`geosteer ${args[0]}: ${message}\nusage: geosteer ${args[0]} `), `${args.join(' ')}: ${show(r)}`);
  }
  // A flag that undrain does not take (drain's --for) is a usage error there.
  const u = cli('undrain', 'gz', '--for', '1m');
  assert.equal(u.code, 2, show(u));
  assert.match(u.stderr, /^geosteer undrain: unknown option --for\n/);
});

test('a map file that does not exist: one line "cannot read FILE: no such file or directory", exit 1, for every verb that reads one', () => {
  const missing = join(mkdtempSync(join(tmpdir(), 'geosteer-usage-')), 'nope.yaml');
  // Redis is never reached: each verb reads the map before it connects.
  const redis = ['--redis', 'redis://127.0.0.1:1'];
  const runs: string[][] = [
    ['check', missing],
    ['check', MAP, '--against', missing],
    ['serve', '--config', missing, '--workers', '1', '--metrics-listen', 'off'],
    ['serve', '--config', missing, '--workers', '2', '--metrics-listen', 'off'],
    ['explain', '1.2.3.4', '--config', missing],
    ['probe', '--config', missing, ...redis],
    ['promote', 'db.example.com', 'bj', '--config', missing, ...redis],
    ['status', '--config', missing, ...redis],
    ['drain', 'gz', '--for', '1m', '--reason', 'x', '--config', missing, ...redis],
  ];
  for (const args of runs) {
    const r = cli(...args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${show(r)}`);
    assert.equal(r.stderr, `cannot read ${missing}: no such file or directory\n`, `${args.join(' ')}: ${show(r)}`);
  }
});

/** Runs the CLI with its stdout (or stderr) closed before it writes: the reader went away, as `| head` does. */
function runClosed(args: string[], which: 'stdout' | 'stderr'): Promise<{ code: number | null; signal: string | null; other: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'silent' } });
    child[which].destroy();
    let other = '';
    child[which === 'stdout' ? 'stderr' : 'stdout'].on('data', (d: Buffer) => (other += d.toString()));
    child.on('close', (code, signal) => done({ code, signal, other }));
  });
}

test('stdout closed by its reader (`geosteer check map.yaml | head -1`): exit 0, nothing on stderr', async () => {
  for (const args of [['check', MAP], ['check', MAP, '--json'], ['explain', '183.6.0.1', '--config', MAP], ['--help'], ['check', '--help']]) {
    const r = await runClosed(args, 'stdout');
    assert.equal(r.signal, null, args.join(' '));
    assert.equal(r.code, 0, `${args.join(' ')}: stderr:\n${r.other}`);
    assert.equal(withoutStaleWarning(r.other), '', args.join(' '));
  }
});

test('the same through a real shell pipeline with pipefail: geosteer\'s status is 0', () => {
  // `head -c1` exits after one byte; a --against run writes long after that.
  const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CLI}" check "${MAP}" --against "${MAP}" | head -c1 >/dev/null`], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(withoutStaleWarning(r.stderr), '');
});

test('stderr closed: the process still ends with its own status (2 for bad usage, 1 for a bad map)', async () => {
  const usage = await runClosed(['check', MAP, '--bogus'], 'stderr');
  assert.equal(usage.code, 2);
  const bad = await runClosed(['check', '/nonexistent/map.yaml'], 'stderr');
  assert.equal(bad.code, 1);
});

test('the bin: bin/geosteer.js is executable in git and runs through a PATH symlink, as npm link and npm install -g make it', () => {
  assert.equal(readFileSync(BIN, 'utf8').split('\n')[0], '#!/usr/bin/env node');
  assert.ok(statSync(BIN).mode & 0o100, 'bin/geosteer.js lacks its exec bit');
  assert.equal(execFileSync('git', ['ls-files', '-s', 'bin/geosteer.js'], { cwd: ROOT, encoding: 'utf8' }).slice(0, 6), '100755');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  assert.deepEqual(pkg.bin, { geosteer: 'bin/geosteer.js' });

  const dir = mkdtempSync(join(tmpdir(), 'geosteer-bin-'));
  symlinkSync(BIN, join(dir, 'geosteer'));
  const r = spawnSync('sh', ['-c', 'geosteer --version && geosteer check geodata/map.yaml'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^geosteer ${VERSION.replace(/\./g, '\\.')}\ngeodata/map\\.yaml: OK `));
});

test('the compiled entry point keeps its shebang and exec bit after `npm run build`', () => {
  // The build script deletes dist/; its chmod restores the bit the fresh main.js lacks.
  assert.equal(readFileSync(CLI, 'utf8').split('\n')[0], '#!/usr/bin/env node');
  assert.ok(statSync(CLI).mode & 0o100, 'dist/src/cli/main.js lacks its exec bit: did the build script lose its chmod?');
  const r = spawnSync(CLI, ['--version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('the bin on a clone that was never built says what to do (exit 1), not a stack trace', () => {
  const clone = mkdtempSync(join(tmpdir(), 'geosteer-unbuilt-'));
  mkdirSync(join(clone, 'bin'));
  copyFileSync(BIN, join(clone, 'bin/geosteer.js'));
  const r = spawnSync(process.execPath, [join(clone, 'bin/geosteer.js'), '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `geosteer: not built yet: run \`npm run build\` in ${clone}\n`);
});
