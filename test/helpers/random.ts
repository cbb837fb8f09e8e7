/** mulberry32: a small seeded PRNG so property tests are reproducible. Returns uint32s. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A random address inside addr/scope (either family): the first `scope` bits of addr, random bits after. */
export function randomInside(addr: Uint8Array, scope: number, next: () => number): Uint8Array {
  const out = new Uint8Array(addr.length);
  for (let i = 0; i < addr.length; i++) {
    const keep = Math.max(0, Math.min(8, scope - i * 8)); // leading bits of this byte inside the prefix
    const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    out[i] = (addr[i] & mask) | (next() & ~mask & 0xff);
  }
  return out;
}
