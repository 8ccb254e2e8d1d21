/**
 * jazzer.js target: the HTTP/2 frame reader of a server (H2Connection), any
 * bytes after the client's preface and SETTINGS. Input: byte 0 the chunk size
 * the socket delivers (0: one piece), the rest the peer's frames.
 */
import { chunks } from "./crash.ts";
import { feed, PREFACE, SETTINGS } from "./h2-feed.ts";

export function fuzz(data: Buffer): void {
  feed("server", [Buffer.concat([PREFACE, SETTINGS]), ...chunks(data[0] ?? 0, data.subarray(1))]);
}
