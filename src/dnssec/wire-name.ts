/**
 * A name in canonical wire form (RFC 4034 6.2): lower case, uncompressed.
 * Names here are map names ([a-z0-9_*-] labels), so plain ASCII folding is enough.
 */
export function nameWire(name: string): Buffer {
  const labels = name.split('.').filter((l) => l !== '');
  const out = Buffer.alloc(labels.reduce((n, l) => n + l.length + 1, 1));
  let off = 0;
  for (const l of labels) {
    out[off++] = l.length;
    off += out.write(l.toLowerCase(), off, 'latin1');
  }
  out[off] = 0;
  return out;
}

/** Labels of a name, not counting the root (RRSIG's Labels field; no wildcards here). */
export function labelCount(name: string): number {
  return name.split('.').filter((l) => l !== '').length;
}
