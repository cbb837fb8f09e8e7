import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { DnsCheckConfig } from '../config';
import type { CheckOutcome, CheckResult } from './options';

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}

/** A query with one question, class IN, RD=0 (we ask the authoritative server itself), no EDNS. */
export function buildDnsQuery(id: number, name: string, qtype: number): Buffer | null {
  const labels = name.replace(/\.$/, '').split('.').filter((l) => l !== '');
  const parts: Buffer[] = [];
  let nameLength = 1;
  for (const label of labels) {
    const bytes = Buffer.from(label, 'utf8');
    if (bytes.length > 63) return null;
    nameLength += 1 + bytes.length;
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  if (nameLength > 255) return null;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(1, 4); // QDCOUNT; flags, AN/NS/ARCOUNT stay 0
  const tail = Buffer.alloc(5); // root label, QTYPE, QCLASS
  tail.writeUInt16BE(qtype, 1);
  tail.writeUInt16BE(1, 3);
  return Buffer.concat([header, ...parts, tail]);
}

/**
 * One UDP query for cfg.name/cfg.qtype to address:cfg.port. Success iff the
 * reply's rcode is cfg.expectRcode and, with cfg.requireAnswer, ANCOUNT > 0.
 */
export function runDnsCheck(cfg: DnsCheckConfig, address: string, signal?: AbortSignal): Promise<CheckResult> {
  const start = performance.now();
  if (signal?.aborted) return Promise.resolve(result('failure', 'aborted', start));
  const family = isIP(address);
  if (!family) return Promise.resolve(result('failure', `not an IP address: ${address}`, start));
  const id = randomInt(0x10000);
  const query = buildDnsQuery(id, cfg.name, cfg.qtype);
  if (!query) return Promise.resolve(result('failure', `bad query name: ${cfg.name}`, start));

  return new Promise((resolve) => {
    let done = false;
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    const finish = (outcome: CheckOutcome, detail: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      try {
        socket.close();
      } catch {
        // already closed
      }
      resolve(result(outcome, detail, start));
    };
    const onAbort = (): void => finish('failure', 'aborted');
    const timer = setTimeout(() => finish('timeout', `timeout after ${cfg.timeoutMs} ms`), cfg.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    // On Linux a connected socket also reports ICMP port-unreachable as ECONNREFUSED.
    socket.on('error', (err) => finish('failure', errorText(err)));
    socket.on('message', (msg) => {
      // connect() already drops datagrams from other peers; a wrong id or a
      // non-response is someone else's (or a spoofer's) packet: keep waiting.
      if (msg.length < 12 || msg.readUInt16BE(0) !== id || (msg[2] & 0x80) === 0) return;
      const rcode = msg[3] & 0x0f;
      const answers = msg.readUInt16BE(6);
      if (rcode !== cfg.expectRcode) return finish('failure', `rcode ${rcodeName(rcode)}`);
      if (cfg.requireAnswer && answers === 0) return finish('failure', 'no answer records');
      finish('success', `rcode ${rcodeName(rcode)}, ${answers} answer${answers === 1 ? '' : 's'}`);
    });
    // connect() binds an ephemeral port and filters replies to those from address:port.
    try {
      socket.connect(cfg.port, address, () => {
        if (!done) socket.send(query, (err) => err && finish('failure', errorText(err)));
      });
    } catch (err) {
      finish('failure', errorText(err)); // e.g. ERR_SOCKET_BAD_PORT, thrown synchronously
    }
  });
}

function result(outcome: CheckOutcome, detail: string, start: number): CheckResult {
  return { outcome, detail, latencyMs: Math.round((performance.now() - start) * 10) / 10 };
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ?? e?.message ?? String(err);
}
