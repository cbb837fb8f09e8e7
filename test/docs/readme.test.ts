import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { isVerb, parseVerbArgs } from '../../src/cli/verbs';
import { freePort, redisAvailable, TestRedis } from '../helpers/redis';
import { until } from '../helpers/wait';
import { extractBlocks, productionReason, readmes, type DocCommand } from './commands';

// Conventions that drift unless a test holds them (like CoreDNS's readme_test.go).

const ROOT = resolve(__dirname, '../../..');
const parts = readdirSync(join(ROOT, 'src')).filter((p) => statSync(join(ROOT, 'src', p)).isDirectory() && p !== 'common');

test('every part has a README with Name, Description, Syntax and Examples in that order', () => {
  for (const part of parts) {
    const text = readFileSync(join(ROOT, 'src', part, 'README.md'), 'utf8');
    assert.match(text, new RegExp(`^# ${part}\\n`), `${part}: title`);
    let last = -1;
    for (const h of ['## Name', '## Description', '## Syntax', '## Examples']) {
      const at = text.indexOf(`\n${h}\n`);
      assert.ok(at > last, `${part}/README.md: "${h}" missing or out of order`);
      last = at;
    }
  }
});

test('every yaml block in the part READMEs parses', () => {
  for (const part of parts) {
    const text = readFileSync(join(ROOT, 'src', part, 'README.md'), 'utf8');
    for (const m of text.matchAll(/```yaml\n([\s\S]*?)```/g)) {
      assert.doesNotThrow(() => parse(m[1]), `${part}/README.md yaml block:\n${m[1]}`);
    }
  }
});

test('docs/errors.md documents every GS_ERR code used in src', () => {
  const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : f.endsWith('.ts') ? [join(dir, f)] : []));
  const codes = new Set<string>();
  for (const f of walk(join(ROOT, 'src'))) for (const m of readFileSync(f, 'utf8').matchAll(/'(GS_ERR_[A-Z_]+)'/g)) codes.add(m[1]);
  assert.ok(codes.size > 0);
  for (const c of codes) assert.ok(doc.includes(c), `${c} missing from docs/errors.md`);
});

// Every `geosteer ...` line in a README code block runs here, as a reader would type it: through bash,
// with `geosteer` on the PATH as `npm link` puts it there (a symlink to bin/geosteer.js), from a
// working directory that holds the files the examples name. Only what cannot be used as written
// is changed: the Redis URL (a real redis-server on a free port), listen ports (free ones),
// /tmp/ paths (the test's own directory). Commands for production (PRODUCTION in ./commands) are
// parsed against the verb table instead of run.

const skipRedis = redisAvailable() ? false : 'redis-server not installed';
const blocks = readmes(ROOT).flatMap((f) => extractBlocks(ROOT, f));
const commands = blocks.flatMap((b) => b.steps.filter((s): s is DocCommand => 'text' in s));
const where = (c: DocCommand): string => `${c.file}:${c.line}: ${c.text}`;

test('the README examples are extracted: check, serve, probe, status, drain, undrain, explain; none calls dist/src/cli/main.js', () => {
  const verbs = new Set(commands.map((c) => c.verb));
  for (const v of ['check', 'serve', 'probe', 'status', 'drain', 'undrain', 'explain']) assert.ok(verbs.has(v), `no README example of geosteer ${v}`);
  assert.ok(commands.some((c) => c.file === 'README.md' && c.background && c.daemon), 'the walk-through starts servers in the background');
  assert.ok(commands.some((c) => c.output !== null && c.output.length > 5), 'a console example with its output');
  for (const f of readmes(ROOT)) {
    for (const b of readFileSync(f, 'utf8').matchAll(/```\S*\n([\s\S]*?)```/g)) {
      for (const line of b[1].split('\n')) {
        if (line.includes('dist/src/cli/main.js') && !line.trim().startsWith('ExecStart=')) assert.fail(`${f}: an example runs the compiled file instead of geosteer: ${line}`);
      }
    }
  }
});

test('the README says in Quick start how geosteer gets on the PATH, and explains the EBADENGINE warning', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const quick = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1));
  assert.match(quick, /`npm link`/);
  assert.match(quick, /`npx geosteer \.\.\.`/);
  assert.match(quick, /EBADENGINE/);
});

test('production-only examples parse: known verb, known options, the right arguments', () => {
  const production = commands.filter((c) => productionReason(c.text) !== null);
  assert.ok(production.length > 0 && production.length <= 8, `${production.length} production-only examples: keep the list short`);
  for (const c of production) {
    const argv = shellWords(c.text);
    const [verb, ...args] = argv;
    assert.ok(isVerb(verb), `${where(c)}: unknown verb`);
    assert.doesNotThrow(() => parseVerbArgs(verb, args), `${where(c)}`);
  }
});

/** The words bash passes to `geosteer` for TEXT (quotes, variables, environment prefixes as bash does them). */
function shellWords(text: string): string[] {
  const r = spawnSync('bash', ['-c', `geosteer() { printf '%s\\0' "$@"; }\n${text}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${text}: ${r.stderr}`);
  return r.stdout.split('\0').slice(0, -1);
}

/** The world the examples assume: a directory with the maps they name, geosteer on the PATH, a Redis. */
interface DocWorld {
  dir: string;
  env: NodeJS.ProcessEnv;
  redis: TestRedis;
  ports: Map<string, number>;
}

async function docWorld(): Promise<DocWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-docs-'));
  mkdirSync(join(dir, 'bin'));
  symlinkSync(join(ROOT, 'bin/geosteer.js'), join(dir, 'bin/geosteer'));
  symlinkSync(join(ROOT, 'geodata'), join(dir, 'geodata'));
  const map = readFileSync(join(ROOT, 'geodata/map.yaml'), 'utf8');
  writeFileSync(join(dir, 'map.yaml'), map);
  // "Moving Hubei from south to north (CN-HB taken out of south's subdivisions and given to north)".
  const moved = map.replace(/(subdivisions: \[[^\]]*?), CN-HB/, '$1').replace(/(\n {2}north:\n)/, '$1    subdivisions: [CN-HB]\n');
  assert.notEqual(moved, map);
  writeFileSync(join(dir, 'new.yaml'), moved);
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}`, LOG_LEVEL: 'info', TMPDIR: dir };
  for (const k of Object.keys(env)) if (k.startsWith('REDIS_') || k.startsWith('GEOSTEER_')) delete env[k];
  return { dir, env, redis: await TestRedis.start(), ports: new Map() };
}

/** TEXT with the few things a test cannot use as written replaced. */
async function substitute(w: DocWorld, text: string): Promise<string> {
  let out = text.replaceAll('redis://127.0.0.1:6379', w.redis.url).replaceAll('/tmp/', `${w.dir}/`);
  // Each documented listen port gets one free port (the same for 127.0.0.1 and [::1]).
  const portFor = async (p: string): Promise<number> => {
    if (!w.ports.has(p)) w.ports.set(p, await freePort());
    return w.ports.get(p) as number;
  };
  for (const m of [...out.matchAll(/--listen (127\.0\.0\.1|\[::1\]):(\d+)/g)]) out = out.replace(m[0], `--listen ${m[1]}:${await portFor(m[2])}`);
  // serve's documented default, 127.0.0.1:5300, may be taken on this machine.
  if (/\bgeosteer serve\b/.test(out) && !out.includes('--listen')) out = out.replace(/\bgeosteer serve\b/, `geosteer serve --listen 127.0.0.1:${await portFor('5300')}`);
  return out;
}

const normalizeOutput = (lines: string[]): string =>
  lines
    .join('\n')
    .replace(/version [0-9a-f]{12}/g, 'version V')
    .replace(/\b\d+\.\d+ s\b/g, 'T s')
    .trimEnd();

interface Daemon {
  c: DocCommand;
  proc: ChildProcess;
  output: string;
  exit: Promise<number | null>;
}

/** Starts a serve/probe line and waits until it says it is running. */
async function startDaemon(w: DocWorld, c: DocCommand, text: string, env: NodeJS.ProcessEnv): Promise<Daemon> {
  const cmd = text.replace(/&\s*(#.*)?$/, '').replace(/^((?:[A-Z_][A-Z0-9_]*=\S*\s+)*)geosteer/, '$1exec geosteer');
  const proc = spawn('bash', ['-c', cmd], { cwd: w.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const d: Daemon = { c, proc, output: '', exit: new Promise((r) => proc.once('exit', (code) => r(code))) };
  proc.stdout?.on('data', (b: Buffer) => (d.output += b.toString()));
  proc.stderr?.on('data', (b: Buffer) => (d.output += b.toString()));
  const ready = c.verb === 'serve' ? '"msg":"geosteer serving"' : '"msg":"geosteer probe running"';
  await until(`${where(c)} to start`, () => {
    if (proc.exitCode !== null) throw new Error(`${where(c)} exited ${proc.exitCode}:\n${d.output}`);
    return d.output.includes(ready);
  }, 30_000);
  return d;
}

/** SIGTERM, as systemd or Ctrl-C would stop it: exit 0. */
async function stopDaemon(d: Daemon): Promise<void> {
  assert.equal(d.proc.exitCode, null, `${where(d.c)} died early:\n${d.output}`);
  d.proc.kill('SIGTERM');
  const code = await d.exit;
  assert.equal(code, 0, `${where(d.c)} exited ${code} on SIGTERM:\n${d.output}`);
}

describe('every geosteer command in a README code block runs and exits 0', { skip: skipRedis }, () => {
  let w: DocWorld;
  before(async () => {
    w = await docWorld();
  });
  after(async () => {
    await w?.redis.stop();
    if (w) rmSync(w.dir, { recursive: true, force: true });
  });

  for (const block of blocks) {
    test(`${block.file}:${block.line} (${block.lang} block)`, async () => {
      const env = { ...w.env };
      const daemons: Daemon[] = [];
      try {
        for (const step of block.steps) {
          if (!('text' in step)) {
            env[step.export] = await substitute(w, step.value);
            continue;
          }
          const c = step;
          if (productionReason(c.text) !== null) continue; // parsed by the test above
          const text = await substitute(w, c.text);
          if (c.daemon) {
            const d = await startDaemon(w, c, text, env);
            if (c.background) daemons.push(d);
            else await stopDaemon(d);
            continue;
          }
          assert.ok(!c.background, `${where(c)}: only serve and probe belong in the background`);
          const r = spawnSync('bash', ['-c', `set -o pipefail\n${text}`], { cwd: w.dir, env, encoding: 'utf8', timeout: 120_000 });
          assert.equal(r.status, 0, `${where(c)}\nran: ${text}\nexit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
          if (c.output !== null) assert.equal(normalizeOutput(r.stdout.split('\n')), normalizeOutput(c.output), `${where(c)}: the output shown in the README differs from what it prints`);
        }
      } finally {
        for (const d of daemons) await stopDaemon(d);
      }
    });
  }
});
