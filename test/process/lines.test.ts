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

  it("an 8 MiB line in 64-byte chunks, under an 8 MiB maxLine, is looked at once (not rescanned per chunk)", () => {
    // The splitter that rescanned (and re-joined) its buffer per chunk did 131,072 scans of up to
    // 8 MiB here: this test then ran past its timeout.
    const lines: string[] = [];
    const max = 8 * 1024 * 1024;
    const s = new LineSplitter((l) => lines.push(l), max);
    const chunk = Buffer.alloc(64, "x");
    for (let i = 0; i < max / 64; i++) s.push(chunk);
    s.push("y\r\nnext\n");
    s.flush();
    assert.deepEqual(
      lines.map((l) => l.length),
      [max, 1, 4],
    );
    assert.match(lines[0]!, /^x+$/);
    assert.deepEqual(lines.slice(1), ["y", "next"]);
  });

  it("one chunk of many lines, and one chunk of one line many times maxLine, split the same as byte by byte", () => {
    const text = `${"a".repeat(10)}\n${"b".repeat(23)}\r\n\n${"c".repeat(9)}\r${"d".repeat(4)}\ntail`;
    const bytes = split(
      [...text].map((c) => Buffer.from(c)),
      8,
    );
    assert.deepEqual(split([text], 8), bytes);
    assert.deepEqual(bytes, [
      "aaaaaaaa",
      "aa",
      "bbbbbbbb",
      "bbbbbbbb",
      "bbbbbbb",
      "",
      "ccccccccc\rdddd".slice(0, 8),
      "c\rdddd",
      "tail",
    ]);
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
