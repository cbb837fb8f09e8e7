import { execFile, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

/** The compiled CLI (tests run from dist/test/<part>/). */
export const CLI = resolve(__dirname, '../../src/cli/main.js');

export interface CliRun {
  /** Exit code; null when it was killed (timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The test's environment without a Redis of its own, logs silent: only the arguments given count. */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, LOG_LEVEL: 'silent', REDIS_URL: '', REDIS_SENTINELS: '', ...extra };
}

/** Runs `geosteer ARGS` to completion (killed after `timeoutMs`); `env` is its whole environment. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { env: options.env ?? cliEnv(), timeout: options.timeoutMs ?? 10_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
      done({ code, stdout, stderr });
    });
  });
}

/** The same, synchronously, for commands that need nothing else running (check, explain). */
export function runCliSync(args: string[], timeoutMs = 60_000): CliRun {
  const res = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: timeoutMs });
  if (res.error) throw res.error;
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** A run's exit code and output, for assertion messages. */
export const showRun = (r: CliRun): string => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/**
 * stderr without `check`'s warning that the GeoIP database is older than geoip.max_age. The bundled
 * database is a snapshot, so on the sample map that warning is expected; tests about other output drop it.
 */
export function withoutStaleWarning(stderr: string): string {
  return stderr.replace(/^.*: warning: GeoIP database .* is \d+ days old \(geoip\.max_age \d+d\).*\n/gm, '');
}
