import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildQuery, frame, rcodeOf, tcpExchange, udpExchange } from '../helpers/packet';
import { startServer, type TestServer } from '../helpers/server';

// Opcodes other than QUERY (RFC 1035 4.1.1, RFC 6895 2.2) get NOTIMP. RD and CD are defined for QUERY
// only, so the reply clears them even when the request set them; id, opcode and question are echoed
// as for every error reply; AA, TC, RA and the answer sections stay empty. UDP and TCP alike.

const NOTIMP = 4;
const OPCODES: Array<[number, string]> = [
  [1, 'IQUERY'],
  [2, 'STATUS'],
  [4, 'NOTIFY'],
  [5, 'UPDATE'],
  [15, 'unassigned 15'],
];

let s: TestServer;
before(async () => {
  s = await startServer();
});
after(async () => {
  await s.close();
});

function checkNotimp(query: Buffer, reply: Buffer | undefined | null, opcode: number): void {
  assert.ok(reply, 'no reply');
  assert.equal(reply.readUInt16BE(0), query.readUInt16BE(0), 'id echoed');
  assert.equal(reply[2] & 0x80, 0x80, 'QR set');
  assert.equal((reply[2] >> 3) & 0x0f, opcode, 'opcode echoed');
  assert.equal(rcodeOf(reply), NOTIMP, 'rcode NOTIMP');
  assert.equal(reply[2] & 0x01, 0, 'RD cleared');
  assert.equal(reply[3] & 0x10, 0, 'CD cleared');
  assert.equal(reply[2] & 0x06, 0, 'AA and TC clear');
  assert.equal(reply[3] & 0x80, 0, 'RA clear');
  assert.equal(reply.readUInt16BE(4), 1, 'question echoed');
  assert.ok(reply.subarray(12, query.length).equals(query.subarray(12)), 'question echoed byte for byte');
  assert.equal(reply.readUInt16BE(6) + reply.readUInt16BE(8) + reply.readUInt16BE(10), 0, 'no records');
}

for (const [opcode, label] of OPCODES) {
  test(`opcode ${opcode} (${label}) with RD and CD set: NOTIMP with RD and CD cleared, over UDP and TCP`, async () => {
    const query = buildQuery({ id: 0x4000 + opcode, name: 'www.example.com', type: 6, opcode, rd: true, cd: true });
    checkNotimp(query, await udpExchange(s.port, query), opcode);
    const { replies } = await tcpExchange(s.port, frame(query), 1);
    checkNotimp(query, replies[0], opcode);
  });
}

test('a QUERY still echoes RD and CD', async () => {
  const query = buildQuery({ id: 0x4100, name: 'www.example.com', type: 1, rd: true, cd: true });
  const reply = await udpExchange(s.port, query);
  assert.ok(reply);
  assert.equal(rcodeOf(reply), 0);
  assert.equal(reply[2] & 0x01, 1, 'RD echoed');
  assert.equal(reply[3] & 0x10, 0x10, 'CD echoed');
});
