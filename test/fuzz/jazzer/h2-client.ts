/**
 * jazzer.js target: the HTTP/2 frame reader of a client with a call open
 * (H2Connection), any bytes after the server's SETTINGS. Input: byte 0 the
 * chunk size the socket delivers (0: one piece), the rest the server's frames.
 */
import { chunks } from "./crash.ts";
import { feed, SETTINGS } from "./h2-feed.ts";

export function fuzz(data: Buffer): void {
  feed("client", [SETTINGS, ...chunks(data[0] ?? 0, data.subarray(1))]);
}
