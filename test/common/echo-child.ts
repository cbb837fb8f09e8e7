// A child for test/common/worker.test.ts: answers { n + 1, bytes + [9] }, or exits with code 3 for n < 0.
process.once('message', (m: { n: number; bytes: Uint8Array }) => {
  if (m.n < 0) process.exit(3);
  process.send?.({ n: m.n + 1, bytes: new Uint8Array([...m.bytes, 9]) }, () => process.disconnect());
});
