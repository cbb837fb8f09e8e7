import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { serve, type RunningServer, type ServeOptions } from '../../src/cli/serve';
import { createLogger } from '../../src/observability';

/** The bundled sample map (repo root is three levels above dist/test/helpers). */
export const DEFAULT_MAP = resolve(__dirname, '../../../geodata/map.yaml');

/** The sample map plus a `policy: primary` service NAME (configured primary bj, standbys gz and sg) without checks. */
export function mapWithPrimaryService(name: string, addr: { gz: string; bj: string; sg: string }): string {
  return `${readFileSync(DEFAULT_MAP, 'utf8').trimEnd()}
  ${name}:
    policy: primary
    primary: bj
    standbys: [gz, sg]
    datacenters:
      gz: { a: [${addr.gz}] }
      bj: { a: [${addr.bj}] }
      sg: { a: [${addr.sg}] }
`;
}

export interface TestServer extends RunningServer {
  port: number;
}

/**
 * The UDP path under test: GEOSTEER_UDP=batched|dgram (.ci/run runs the DNS
 * suites once per path); unset, the server's default.
 */
export function udpPathUnderTest(): 'batched' | 'dgram' | undefined {
  const v = process.env.GEOSTEER_UDP;
  if (v === undefined || v === '') return undefined;
  if (v !== 'batched' && v !== 'dgram') throw new Error(`GEOSTEER_UDP must be batched or dgram, not ${v}`);
  return v;
}

/** Starts a real server on 127.0.0.1 with a kernel-chosen port (UDP and TCP on the same one). */
export async function startServer(options: Partial<ServeOptions> & { mapText?: string } = {}): Promise<TestServer> {
  let config = options.config ?? DEFAULT_MAP;
  if (options.mapText !== undefined) config = writeTemp('map.yaml', options.mapText);
  const udp = udpPathUnderTest();
  const running = await serve({
    listen: ['127.0.0.1:0'],
    logger: createLogger('silent'),
    ...options,
    dns: { ...(udp ? { udp } : {}), ...options.dns },
    config,
  });
  // A path asked for must be the path running: a silent fallback would test the other one.
  if (udp !== undefined && running.dns.udpPath !== udp) {
    await running.close();
    throw new Error(`GEOSTEER_UDP=${udp} but the server runs the ${running.dns.udpPath} path (${running.dns.udpFallback ?? 'no reason given'})`);
  }
  return Object.assign(running, { port: running.addresses[0].port });
}

/** Writes `text` to a fresh temp dir and returns the file path. */
export function writeTemp(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-test-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
