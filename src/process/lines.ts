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
  /**
   * The current line so far, as the pieces it came in (none holds a newline):
   * each byte is looked at once, so a long line fed in small chunks costs
   * linear time, not a rescan (or a re-copy of one joined string) per chunk.
   */
  private parts: string[] = [];
  private partLen = 0;
  private readonly onLine: (line: string) => void;
  private readonly maxLine: number;
  private readonly decoder = new TextDecoder("utf-8");

  constructor(onLine: (line: string) => void, maxLine = MAX_LINE) {
    this.onLine = onLine;
    this.maxLine = maxLine;
  }

  push(chunk: Uint8Array | string): void {
    // stream: true keeps a UTF-8 character split across chunks whole.
    const s = typeof chunk === "string" ? chunk : this.decoder.decode(chunk, { stream: true });
    let start = 0;
    let nl = -1;
    while (start < s.length) {
      if (nl < start) nl = s.indexOf("\n", start);
      const end = nl < 0 ? s.length : nl;
      const room = this.maxLine - this.partLen;
      if (end - start > room) {
        // Longer than maxLine: hand on a piece of exactly maxLine, the rest starts the next one.
        this.add(s.slice(start, start + room));
        this.emit(false);
        start += room;
        continue;
      }
      this.add(s.slice(start, end));
      if (nl < 0) return;
      this.emit(true);
      start = nl + 1;
    }
  }

  flush(): void {
    const tail = this.decoder.decode();
    if (tail !== "") this.push(tail);
    if (this.partLen > 0) this.emit(false);
  }

  private add(piece: string): void {
    if (piece === "") return;
    this.parts.push(piece);
    this.partLen += piece.length;
  }

  /** Hands on the current line (a whole one loses a trailing `\r`) and starts the next. */
  private emit(whole: boolean): void {
    const p = this.parts;
    let line = p.length === 1 ? p[0]! : p.join("");
    if (whole && line.endsWith("\r")) line = line.slice(0, -1);
    this.parts = [];
    this.partLen = 0;
    this.onLine(line);
  }
}

/** Reads `stream` to its end, handing each line to `onLine` (the last one, unterminated, too). */
export function readLines(stream: Readable, onLine: (line: string) => void, maxLine = MAX_LINE): LineSplitter {
  const split = new LineSplitter(onLine, maxLine);
  stream.on("data", (c: Buffer | string) => split.push(c));
  stream.on("end", () => split.flush());
  return split;
}
