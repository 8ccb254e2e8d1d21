/**
 * Splitting a byte stream into lines: a child's stdout and stderr, a plugin's
 * stdio stream, any newline-delimited feed.
 */
import type { Readable } from "node:stream";

/** Longest line kept whole (go-plugin's PluginLogBufferSize default); longer ones are split. */
export const MAX_LINE = 64 * 1024;

/**
 * Splits a byte stream into lines, handing each to `onLine` without its
 * `\n` (or `\r\n`); a line longer than `maxLine` is handed on in pieces.
 * flush() emits what is left after the last newline.
 */
export class LineSplitter {
  private buf = "";
  private readonly onLine: (line: string) => void;
  private readonly maxLine: number;
  private readonly decoder = new TextDecoder("utf-8");

  constructor(onLine: (line: string) => void, maxLine = MAX_LINE) {
    this.onLine = onLine;
    this.maxLine = maxLine;
  }

  push(chunk: Uint8Array | string): void {
    // stream: true keeps a UTF-8 character split across chunks whole.
    this.buf += typeof chunk === "string" ? chunk : this.decoder.decode(chunk, { stream: true });
    for (;;) {
      const i = this.buf.indexOf("\n");
      if (i >= 0 && i <= this.maxLine) {
        this.onLine(this.buf.slice(0, i).replace(/\r$/, ""));
        this.buf = this.buf.slice(i + 1);
      } else if (i > this.maxLine || this.buf.length > this.maxLine) {
        this.onLine(this.buf.slice(0, this.maxLine));
        this.buf = this.buf.slice(this.maxLine);
      } else break;
    }
  }

  flush(): void {
    this.buf += this.decoder.decode();
    if (this.buf !== "") this.onLine(this.buf);
    this.buf = "";
  }
}

/** Reads `stream` to its end, handing each line to `onLine` (the last one, unterminated, too). */
export function readLines(stream: Readable, onLine: (line: string) => void, maxLine = MAX_LINE): LineSplitter {
  const split = new LineSplitter(onLine, maxLine);
  stream.on("data", (c: Buffer | string) => split.push(c));
  stream.on("end", () => split.flush());
  return split;
}
