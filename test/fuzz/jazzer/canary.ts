/**
 * jazzer.js target that proves the harness, not a parser: it throws on inputs
 * starting "FUZZ", checked one byte per branch, which random inputs would hit
 * once in 2^32 tries and coverage guidance finds in thousands. The jazzer test
 * requires the finding and its file; a harness that lost coverage feedback or
 * stopped reporting crashes fails there.
 */
import { FuzzFinding } from "./crash.ts";

export function fuzz(data: Buffer): void {
  if (data[0] === 0x46)
    if (data[1] === 0x55)
      if (data[2] === 0x5a) if (data[3] === 0x5a) throw new FuzzFinding("the canary: input starts FUZZ");
}
