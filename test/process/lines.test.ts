/** Line splitting of child output and stdio streams. */
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { LineSplitter, readLines } from "../../src/process/lines.ts";

describe("LineSplitter", () => {
  const split = (chunks: (string | Buffer)[], maxLine?: number): string[] => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l), maxLine);
    for (const c of chunks) s.push(c);
    s.flush();
    return lines;
  };

  it("splits on \\n and \\r\\n across chunk borders, and flushes an unterminated last line", () => {
    assert.deepEqual(split(["a\nb", "c\r\n", "\nlast"]), ["a", "bc", "", "last"]);
    assert.deepEqual(split([]), []);
    assert.deepEqual(split(["only\n"]), ["only"]);
  });

  it("keeps a UTF-8 character split across two chunks whole", () => {
    const bytes = Buffer.from("grüße\n", "utf8");
    assert.deepEqual(split([bytes.subarray(0, 3), bytes.subarray(3)]), ["grüße"]);
  });

  it("hands on a line longer than maxLine in pieces instead of buffering without end", () => {
    assert.deepEqual(split(["abcdefgh", "ij\n"], 4), ["abcd", "efgh", "ij"]);
  });

  it("readLines reads a stream to its end", async () => {
    const s = new PassThrough();
    const lines: string[] = [];
    readLines(s, (l) => lines.push(l));
    s.write("one\ntw");
    s.end("o");
    await new Promise((r) => s.once("end", r));
    assert.deepEqual(lines, ["one", "two"]);
  });
});
