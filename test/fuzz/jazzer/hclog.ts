/**
 * jazzer.js target: the hclog line parser (parseLine), the stderr lines of a
 * plugin, panic state carried across them. Input: UTF-8 text, one line per
 * "\n". Property: every line parses to a known level and a string message;
 * nothing throws (a plugin's stderr is never an error).
 */
import { type HclogLevel, parseLine } from "../../../src/protocol/hclog.ts";
import { expect } from "./crash.ts";

const LEVELS: readonly HclogLevel[] = ["trace", "debug", "info", "warn", "error"];

export function fuzz(data: Buffer): void {
  const state = { inPanic: false };
  for (const line of data.toString("utf8").split("\n")) {
    const p = parseLine(line, state, "debug");
    expect(LEVELS.includes(p.level), () => `level ${JSON.stringify(p.level)}`);
    expect(typeof p.message === "string", () => `message ${typeof p.message}`);
  }
}
