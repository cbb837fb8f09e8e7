import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parseVerbArgs } from '../../src/cli/verbs';

// docs/Dockerfile is not built here (no container engine on the CI machine, and base images come
// from a registry it cannot reach). These tests hold the lines an image's users rely on: Node as
// package.json asks, a non-root user, the ports, a serve command line the CLI accepts, and a build
// that copies everything the npm package is made of.

const ROOT = resolve(__dirname, '../../..');
const text = readFileSync(join(ROOT, 'docs/Dockerfile'), 'utf8');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string }; files: string[] };

/** Instructions in order: continuation lines joined, comments dropped. */
const instructions: Array<{ op: string; args: string }> = text
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => ({ op: l.split(/\s+/)[0].toUpperCase(), args: l.slice(l.split(/\s+/)[0].length).trim() }));
const lastFrom = instructions.map((i) => i.op).lastIndexOf('FROM');
const build = instructions.slice(0, lastFrom);
const runtime = instructions.slice(lastFrom);
const all = (list: typeof instructions, op: string): string[] => list.filter((i) => i.op === op).map((i) => i.args);
const one = (list: typeof instructions, op: string): string => {
  const found = all(list, op);
  assert.equal(found.length, 1, `one ${op} expected in the stage, found ${found.length}`);
  return found[0];
};

test('both stages run the Node major package.json asks for, from the Node image', () => {
  const arg = /^NODE_IMAGE=(\S+)$/.exec(one(instructions, 'ARG'));
  assert.ok(arg, 'ARG NODE_IMAGE=IMAGE');
  const m = /^node:(\d+)-[a-z]+-slim$/.exec(arg[1]);
  assert.ok(m, `${arg[1]}: expected node:MAJOR-DEBIAN-slim`);
  const min = Number(/^>=(\d+)$/.exec(pkg.engines.node)?.[1]);
  assert.ok(Number(m[1]) >= min, `image Node ${m[1]} < engines ${pkg.engines.node}`);
  assert.deepEqual(all(instructions, 'FROM'), ['${NODE_IMAGE} AS build', '${NODE_IMAGE}']);
});

test('the build stage makes the tarball with npm pack and installs it with npm install -g, as an operator would', () => {
  const run = all(build, 'RUN').join('\n');
  assert.match(run, /\bnpm ci\b/);
  assert.match(run, /\bnpm pack\b/);
  assert.match(run, /\bnpm install -g --prefix \/opt\/geosteer --omit=dev .*\.\/geosteer-\*\.tgz/);
  assert.deepEqual(all(runtime, 'COPY').filter((c) => c.startsWith('--from=build')), ['--from=build /opt/geosteer /opt/geosteer', '--from=build /src/geodata/map.yaml /etc/geosteer/map.yaml']);
  assert.match(one(runtime, 'ENV'), /PATH=\/opt\/geosteer\/bin:\$PATH/);
});

test('the build copies every source the package is made of, and each copied path exists', () => {
  const copied = all(build, 'COPY').flatMap((c) => c.split(/\s+/).slice(0, -1));
  for (const p of copied) assert.ok(existsSync(join(ROOT, p)), `COPY ${p}: no such path in the repository`);
  assert.ok(copied.includes('package-lock.json'), 'npm ci needs the lockfile');
  // dist/ is built in the image from src/ (and tsconfig.json); every other `files` entry is copied as it is.
  for (const f of pkg.files) {
    const from = f.startsWith('dist/') ? 'src/' : f;
    assert.ok(copied.some((c) => from === c || from.startsWith(c.endsWith('/') ? c : `${c}/`)), `package.json files has ${f}, which the Dockerfile does not copy`);
  }
  assert.ok(copied.includes('tsconfig.json'));
});

test('the image runs as a fixed non-root user and exposes 53/udp, 53/tcp and the admin port', () => {
  const user = one(runtime, 'USER');
  const m = /^(\d+):(\d+)$/.exec(user);
  assert.ok(m, `USER ${user}: numeric UID:GID, so runAsNonRoot can check it`);
  assert.notEqual(Number(m[1]), 0);
  assert.match(all(runtime, 'RUN').join('\n'), new RegExp(`useradd .*--uid ${m[1]}\\b`));
  assert.deepEqual(one(runtime, 'EXPOSE').split(/\s+/).sort(), ['53/tcp', '53/udp', '9253/tcp']);
});

test('its command is geosteer serve on 0.0.0.0:53 with the admin port exposed, and the CLI accepts its options', () => {
  assert.equal(one(runtime, 'ENTRYPOINT'), '["geosteer"]');
  const cmd = JSON.parse(one(runtime, 'CMD')) as string[];
  assert.equal(cmd[0], 'serve');
  assert.doesNotThrow(() => parseVerbArgs('serve', cmd.slice(1)));
  const { values } = parseVerbArgs('serve', cmd.slice(1));
  assert.deepEqual(values.listen, ['0.0.0.0:53']);
  assert.equal(values['metrics-listen'], '0.0.0.0:9253');
  assert.equal(values.config, '/etc/geosteer/map.yaml');
  // The health snapshot goes to the volume, not to /tmp of a container that is replaced on upgrade.
  assert.match(String(values['state-file']), /^\/var\/lib\/geosteer\//);
  assert.ok(all(runtime, 'VOLUME').some((v) => v.includes('/var/lib/geosteer')));
  assert.match(one(runtime, 'HEALTHCHECK'), /http:\/\/127\.0\.0\.1:9253\/readyz/);
});
