/**
 * Node's floor for a UDP DNS server: one recv and one send per query, a
 * hand-found question end and a prebuilt answer (www.example.test A 192.0.2.3
 * for everything, ECS ignored). Run it under dnsperf like any server to see
 * how close geosteer gets to what Node itself can do:
 *
 *   CUSTOM_NAME=node-floor CUSTOM_CMD='node dist/bench/node-floor.bench.js @PORT@' ../shared/bench/run-anchors.sh custom
 */
import { createSocket } from 'node:dgram';

const port = Number(process.argv[2] ?? 5310);
const sock = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
// Answer section for a question at offset 12: pointer to the qname, A IN, TTL 300, 192.0.2.3.
const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 192, 0, 2, 3]);
// SOA for the harness's start check (`dig example.test SOA`): ns1.<qname> hostmaster.<qname> ...
const soaRdata = Buffer.concat([
  Buffer.from([3, ...Buffer.from('ns1'), 0xc0, 0x0c, 10, ...Buffer.from('hostmaster'), 0xc0, 0x0c]),
  Buffer.from('78a38a25000007080000038400093a800000012c', 'hex'),
]);
const soa = Buffer.concat([Buffer.from([0xc0, 0x0c, 0, 6, 0, 1, 0, 0, 0x01, 0x2c, 0, soaRdata.length]), soaRdata]);

sock.on('message', (msg, rinfo) => {
  if (msg.length < 17 || rinfo.port === 0) return;
  let off = 12;
  while (off < msg.length && msg[off] !== 0) off += msg[off] + 1;
  const qend = off + 5;
  if (qend > msg.length) return;
  const rr = msg[qend - 3] === 6 ? soa : answer;
  const out = Buffer.allocUnsafe(qend + rr.length);
  msg.copy(out, 0, 0, qend);
  out[2] = 0x84 | (msg[2] & 0x01);
  out[3] = 0;
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(1, 6);
  out.writeUInt32BE(0, 8);
  rr.copy(out, qend);
  sock.send(out, rinfo.port, rinfo.address);
});
sock.bind(port, '127.0.0.1');
