/**
 * jazzer.js target: the HPACK decoder, one decoder across a connection's
 * header blocks (its dynamic table carries over). Input: bytes 0-1 the header
 * list size allowed (big-endian, at least 64), then blocks, each a length byte
 * and that many bytes (the last takes what is left). Property: a block decodes
 * within the list size, the dynamic table within 4096 bytes, or the block throws
 * HpackError (the connection ends there).
 */
import { HpackDecoder, HpackError } from "../../../src/transport/h2/hpack.ts";
import { expect } from "./crash.ts";

export function fuzz(data: Buffer): void {
  if (data.length < 2) return;
  const max = Math.max(64, data.readUInt16BE(0));
  const d = new HpackDecoder();
  for (let off = 2; off < data.length; ) {
    const n = data[off]!;
    const block = data.subarray(off + 1, off + 1 + n);
    off += 1 + n;
    try {
      const h = d.decode(block, max);
      let size = 0;
      for (const k in h) for (const v of ([] as string[]).concat(h[k]!)) size += k.length + v.length + 32;
      expect(size <= max, () => `decoded ${size} bytes over the ${max} allowed`);
      // The dynamic table stays within the size we advertised (SETTINGS_HEADER_TABLE_SIZE, 4096).
      const table = (d as unknown as { size: number }).size;
      expect(table <= 4096, () => `dynamic table of ${table} bytes`);
    } catch (err) {
      if (err instanceof HpackError) return;
      throw err;
    }
  }
}
