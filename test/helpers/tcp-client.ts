import { connect, type Socket } from 'node:net';
import { sleep } from './wait';

/** A TCP client that collects length-prefixed replies. */
export class TcpClient {
  readonly replies: Buffer[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private constructor(readonly sock: Socket) {
    sock.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      while (this.buf.length >= 2 && this.buf.length >= 2 + this.buf.readUInt16BE(0)) {
        this.replies.push(this.buf.subarray(2, 2 + this.buf.readUInt16BE(0)));
        this.buf = this.buf.subarray(2 + this.buf.readUInt16BE(0));
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
    });
  }

  /** Connects to 127.0.0.1:port, from `localAddress` when given (any 127.x.y.z works on Linux). */
  static open(port: number, localAddress?: string): Promise<TcpClient> {
    return new Promise((resolve, reject) => {
      const sock = connect({ port, host: '127.0.0.1', localAddress });
      sock.setNoDelay(true);
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.off('error', reject);
        resolve(new TcpClient(sock));
      });
    });
  }

  write(data: Buffer): void {
    if (!this.closed) this.sock.write(data);
  }

  /** Waits until `n` replies arrived or the connection closed (or timeout). */
  async wait(n: number, timeoutMs = 2000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!(this.replies.length >= n || this.closed)) {
      if (Date.now() > end) return false;
      await sleep(10);
    }
    return true;
  }

  destroy(): void {
    this.sock.destroy();
  }
}
