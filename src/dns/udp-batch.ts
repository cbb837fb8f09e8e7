import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The batched UDP socket of src/dns/native (recvmmsg/sendmmsg, SO_REUSEPORT on request),
 * typed, plus the one thing JS needs per packet: the source address as the
 * string dgram would have given (memoized, so a busy source costs a compare,
 * not a string). Knows nothing about DNS.
 */

/** Per received slot in `meta`: length (-1: cut short, which a 64 KiB slot makes impossible), family (4/6), port, unused. */
export const META_FIELDS = 4;
/** Per reply in `sendMeta`: the received slot it answers, its length; its bytes at reply index * slotSize in `send`. */
export const SEND_FIELDS = 2;
export const RING_SLOTS = 64;
/** Room per reply in the send ring (UDP replies are at most 1232 bytes). */
export const SEND_SLOT_BYTES = 4096;

/** Indexes into `stats` (the addon's counters; src/dns/native/udp_batch.c). */
export const enum BatchStat {
  Wakeups = 0,
  RecvCalls = 1,
  RecvPackets = 2,
  SendCalls = 3,
  Sent = 4,
  SendDropped = 5,
  SendErrors = 6,
  Oversize = 7,
  RecvErrors = 8,
}

interface Native {
  open(host: string, port: number, v6: boolean, recvBufferBytes: number, slots: number, sendSlotSize: number, onBatch: (n: number) => number, reusePort: boolean): BatchSocketParts;
  close(handle: unknown): void;
  ref(handle: unknown, on: boolean): void;
}

interface BatchSocketParts {
  handle: unknown;
  port: number;
  recv: Buffer;
  recvStride: number;
  meta: Int32Array;
  addr: Buffer;
  send: Buffer;
  sendMeta: Int32Array;
  stats: Float64Array;
}

let native: Native | null = null;
let loadError: string | null = null;

/** The addon, or null with `batchLoadError()` saying why (not built, wrong ABI, not Linux). */
export function loadBatchAddon(): Native | null {
  if (native !== null || loadError !== null) return native;
  // dist/src/dns -> repo root -> src/dns/native/build (node-gyp's output; the C sources live there too).
  // GEOSTEER_UDP_ADDON names another build (tests use a missing one to see the fallback).
  const path = process.env.GEOSTEER_UDP_ADDON || join(__dirname, '../../../src/dns/native/build/Release/udp_batch.node');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    native = require(path) as Native;
  } catch (err) {
    loadError = `${path}: ${(err as Error).message.split('\n')[0]}`;
  }
  return native;
}

export const batchLoadError = (): string | null => loadError;

/** A reply handler for one batch: returns how many replies it put in `send`/`sendMeta`. */
export type BatchHandler = (sock: BatchSocket, count: number) => number;

export class BatchSocket {
  readonly port: number;
  /** Received datagram i: recv[i * recvStride ...], its length in meta (a slot holds any datagram whole). */
  readonly recv: Buffer;
  readonly recvStride: number;
  readonly meta: Int32Array;
  /** Reply j: send[j * sendSlot ...], with its received slot and length in sendMeta. */
  readonly send: Buffer;
  readonly sendMeta: Int32Array;
  readonly stats: Float64Array;
  readonly sendSlot = SEND_SLOT_BYTES;
  private readonly addr: Buffer;
  private readonly handle: unknown;
  private closed = false;
  // One-entry memo of the last source address: a query stream from one resolver makes no strings.
  private lastFamily = 0;
  private readonly last = new Int32Array(4);
  private lastText = '';

  constructor(lib: Native, host: string, port: number, v6: boolean, recvBufferBytes: number, onBatch: BatchHandler, reusePort: boolean) {
    const parts = lib.open(host, port, v6, recvBufferBytes, RING_SLOTS, SEND_SLOT_BYTES, (n) => onBatch(this, n), reusePort);
    this.handle = parts.handle;
    this.port = parts.port;
    this.recv = parts.recv;
    this.recvStride = parts.recvStride;
    this.meta = parts.meta;
    this.addr = parts.addr;
    this.send = parts.send;
    this.sendMeta = parts.sendMeta;
    this.stats = parts.stats;
    this.close = () => {
      if (this.closed) return;
      this.closed = true;
      lib.close(this.handle);
    };
    this.unref = () => {
      if (!this.closed) lib.ref(this.handle, false);
    };
  }

  /** Stops reading and closes the socket; safe inside the batch handler (nothing more of that batch is sent). */
  readonly close: () => void;
  readonly unref: () => void;

  /** The source of received slot i as dgram's rinfo.address writes it. */
  source(i: number): string {
    const a = this.addr;
    const o = i * 16;
    const family = this.meta[i * META_FIELDS + 1];
    const last = this.last;
    const w0 = a.readInt32BE(o);
    if (family === 4) {
      if (this.lastFamily === 4 && last[0] === w0) return this.lastText;
      this.lastFamily = 4;
      last[0] = w0;
      return (this.lastText = `${a[o]}.${a[o + 1]}.${a[o + 2]}.${a[o + 3]}`);
    }
    const w1 = a.readInt32BE(o + 4);
    const w2 = a.readInt32BE(o + 8);
    const w3 = a.readInt32BE(o + 12);
    if (this.lastFamily === 6 && last[0] === w0 && last[1] === w1 && last[2] === w2 && last[3] === w3) return this.lastText;
    this.lastFamily = 6;
    last[0] = w0;
    last[1] = w1;
    last[2] = w2;
    last[3] = w3;
    return (this.lastText = formatIpv6(a, o));
  }
}

/**
 * inet_ntop's IPv6 text, as libuv (and so dgram) writes it: lowercase hex, the
 * longest run of two or more zero groups (the first of equal runs) as '::',
 * and ::a.b.c.d / ::ffff:a.b.c.d for IPv4-compatible and -mapped addresses.
 */
export function formatIpv6(b: Uint8Array, o = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[o + 2 * i] << 8) | b[o + 2 * i + 1]);
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) best = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (best !== -1 && i >= best && i < best + bestLen) {
      if (i === best) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      out += `${b[o + 12]}.${b[o + 13]}.${b[o + 14]}.${b[o + 15]}`;
      break;
    }
    out += w[i].toString(16);
  }
  if (best !== -1 && best + bestLen === 8) out += ':';
  return out;
}

/**
 * Why a shared (SO_REUSEPORT) UDP port is at risk, or null: a port inside the
 * kernel's ephemeral range can be handed to any same-user socket that binds
 * port 0 with SO_REUSEPORT (dig and other libisc clients do), and that socket
 * then takes part of the flows. Port 53 and other ports below the range are
 * never handed out.
 */
export function sharedPortHazard(port: number, rangeFile = '/proc/sys/net/ipv4/ip_local_port_range'): string | null {
  let low: number;
  let high: number;
  try {
    [low, high] = readFileSync(rangeFile, 'utf8').trim().split(/\s+/).map(Number) as [number, number];
  } catch {
    return null;
  }
  if (!(port >= low && port <= high)) return null;
  return `UDP port ${port} is shared by the workers (SO_REUSEPORT) and lies in the kernel's ephemeral range ${low}-${high}: a local process of the same user that binds port 0 with SO_REUSEPORT (dig does) can be given it and take part of the queries; listen on a port outside that range (53 is)`;
}
