import { createSocket } from 'node:dgram';
import { connect } from 'node:net';

export interface QuerySpec {
  id?: number;
  name: string;
  type?: number;
  qclass?: number;
  opcode?: number;
  rd?: boolean;
  /** Checking Disabled (RFC 4035 3.2.2), the fourth header byte's 0x10. */
  cd?: boolean;
  /** Add an OPT record. */
  edns?: { udpSize?: number; version?: number; dnssecOk?: boolean; options?: Array<{ code: number; data: Buffer }> };
}

/** Encodes a query by hand, so tests control every byte (dig refuses to send broken ones). */
export function buildQuery(spec: QuerySpec): Buffer {
  const labels = spec.name === '' || spec.name === '.' ? [] : spec.name.replace(/\.$/, '').split('.');
  const qname = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(spec.id ?? 0x1234, 0);
  header[2] = ((spec.opcode ?? 0) << 3) | (spec.rd ? 1 : 0);
  header[3] = spec.cd ? 0x10 : 0;
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(spec.edns ? 1 : 0, 10);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(spec.type ?? 1, 0);
  q.writeUInt16BE(spec.qclass ?? 1, 2);
  const parts = [header, qname, q];
  if (spec.edns) {
    const opts = Buffer.concat(
      (spec.edns.options ?? []).map((o) => {
        const h = Buffer.alloc(4);
        h.writeUInt16BE(o.code, 0);
        h.writeUInt16BE(o.data.length, 2);
        return Buffer.concat([h, o.data]);
      }),
    );
    const opt = Buffer.alloc(11);
    opt[0] = 0;
    opt.writeUInt16BE(41, 1);
    opt.writeUInt16BE(spec.edns.udpSize ?? 1232, 3);
    opt[5] = 0;
    opt[6] = spec.edns.version ?? 0;
    opt[7] = spec.edns.dnssecOk ? 0x80 : 0;
    opt.writeUInt16BE(opts.length, 9);
    parts.push(opt, opts);
  }
  return Buffer.concat(parts);
}

/** ECS option data: family, source prefix, scope, address truncated to the prefix. */
export function ecsOption(address: string, source: number, scope = 0): { code: number; data: Buffer } {
  const v6 = address.includes(':');
  const bytes = v6 ? ipv6Bytes(address) : Buffer.from(address.split('.').map(Number));
  const n = (source + 7) >> 3;
  const head = Buffer.alloc(4);
  head.writeUInt16BE(v6 ? 2 : 1, 0);
  head[2] = source;
  head[3] = scope;
  return { code: 8, data: Buffer.concat([head, bytes.subarray(0, n)]) };
}

function ipv6Bytes(text: string): Buffer {
  const [h, t] = text.split('::');
  const hp = h ? h.split(':') : [];
  const tp = t !== undefined && t !== '' ? t.split(':') : [];
  const groups = [...hp, ...new Array(8 - hp.length - tp.length).fill('0'), ...tp];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Sends one datagram from 127.0.0.1 and waits for one reply (null on timeout). */
export function udpExchange(port: number, msg: Buffer, timeoutMs = 1000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      resolve(null);
    }, timeoutMs);
    sock.on('message', (reply) => {
      clearTimeout(timer);
      sock.close();
      resolve(reply);
    });
    sock.send(msg, port, '127.0.0.1');
  });
}

/** Opens a TCP connection, writes `data`, and collects length-prefixed replies until `count` or timeout/close. */
export function tcpExchange(port: number, data: Buffer | Buffer[], count: number, timeoutMs = 2000): Promise<{ replies: Buffer[]; closed: boolean }> {
  return new Promise((resolve) => {
    const replies: Buffer[] = [];
    let buf = Buffer.alloc(0);
    let closed = false;
    const sock = connect(port, '127.0.0.1');
    const done = (): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ replies, closed });
    };
    const timer = setTimeout(done, timeoutMs);
    sock.on('connect', () => {
      for (const d of Array.isArray(data) ? data : [data]) sock.write(d);
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        replies.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (replies.length >= count) done();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      closed = true;
      done();
    });
  });
}

/** Prefixes a message with its 2-byte TCP length. */
export function frame(msg: Buffer): Buffer {
  const h = Buffer.alloc(2);
  h.writeUInt16BE(msg.length, 0);
  return Buffer.concat([h, msg]);
}

export function rcodeOf(reply: Buffer): number {
  return reply[3] & 0x0f;
}
