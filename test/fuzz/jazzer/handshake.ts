/**
 * jazzer.js target: go-plugin's handshake line parser (parseHandshake).
 * Input: byte 0 bit 0 whether the host asks for multiplexing, the rest the
 * line (UTF-8). Property: the line parses to core 1 and an app version the
 * host offered, or fails with a HANDSHAKE_* / MULTIPLEX_* code.
 */
import { parseHandshake } from "../../../src/protocol/handshake.ts";
import { coded, expect } from "./crash.ts";

export function fuzz(data: Buffer): void {
  const multiplex = ((data[0] ?? 0) & 1) === 1;
  const line = data.subarray(1).toString("utf8");
  try {
    const h = parseHandshake(line, { versions: [1, 2], multiplex });
    expect(h.core === 1 && (h.appVersion === 1 || h.appVersion === 2), () => `accepted ${JSON.stringify(h)}`);
  } catch (err) {
    coded(err, /^(HANDSHAKE|MULTIPLEX)_/);
  }
}
