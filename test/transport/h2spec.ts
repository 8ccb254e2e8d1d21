/**
 * Runs h2spec (the HTTP/2 conformance suite, built into the cache by
 * tools/build-h2spec.sh) against a server on a Unix socket: h2spec speaks TCP,
 * so a loopback proxy on 127.0.0.1 carries each of its connections to the socket.
 */
import { execFileSync, spawn } from "node:child_process";
import * as net from "node:net";
import { join } from "node:path";
import { ROOT } from "../helpers.ts";

/** One h2spec run: the totals it printed and the cases that failed. */
export interface H2specResult {
  total: number;
  passed: number;
  skipped: number;
  failed: number;
  /** Each failed case's section, number and title, e.g. "6.9.1/2 Sends multiple WINDOW_UPDATE frames ...". */
  failures: string[];
  output: string;
}

/** The h2spec binary (built on first use; the build is a no-op when cached). */
export function h2specBinary(): string {
  execFileSync(join(ROOT, "tools/build-h2spec.sh"), { stdio: "inherit" });
  return execFileSync(join(ROOT, "tools/build-h2spec.sh"), ["--print-path"]).toString().trim();
}

/**
 * Runs h2spec against the server on `socket` through a loopback proxy;
 * `timeoutS` is h2spec's per-case wait, `extra` more arguments (sections such as `http2/5.1`, `-v`).
 */
export async function runH2spec(socket: string, timeoutS = 2, extra: string[] = []): Promise<H2specResult> {
  const bin = h2specBinary();
  const conns = new Set<net.Socket>();
  const proxy = net.createServer((c) => {
    const up = net.connect(socket);
    conns.add(c);
    conns.add(up);
    c.on("error", () => up.destroy());
    up.on("error", () => c.destroy());
    c.on("close", () => {
      conns.delete(c);
      up.destroy();
    });
    up.on("close", () => {
      conns.delete(up);
      c.destroy();
    });
    c.pipe(up);
    up.pipe(c);
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  const port = (proxy.address() as net.AddressInfo).port;
  try {
    const output = await new Promise<string>((resolve, reject) => {
      const p = spawn(bin, ["-h", "127.0.0.1", "-p", String(port), "-o", String(timeoutS), ...extra], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      p.stdout.on("data", (d: Buffer) => (out += d.toString()));
      p.stderr.on("data", (d: Buffer) => (out += d.toString()));
      p.on("error", reject);
      p.on("close", () => resolve(out));
    });
    return parseH2spec(output);
  } finally {
    for (const c of conns) c.destroy();
    await new Promise<void>((r) => proxy.close(() => r()));
  }
}

/** Reads h2spec's plain report: "145 tests, 91 passed, 5 skipped, 49 failed" and its "Failures:" section. */
export function parseH2spec(raw: string): H2specResult {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: h2spec colours its output
  const output = raw.replace(/\x1b\[[0-9;]*m/g, "");
  const m = /(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed/.exec(output);
  if (!m) throw new Error(`h2spec printed no summary:\n${output.slice(-2000)}`);
  const failures: string[] = [];
  const at = output.indexOf("Failures:");
  if (at >= 0) {
    let section = "";
    for (const line of output.slice(at).split("\n")) {
      const sec = /^\s*(\d+(?:\.\d+)*)\.\s+(.*)$/.exec(line);
      const item = /^\s*[×x✗]?\s*(\d+):\s+(.*)$/.exec(line);
      if (item && section) failures.push(`${section}/${item[1]} ${item[2]!.trim()}`);
      else if (sec) section = sec[1]!;
    }
  }
  return {
    total: Number(m[1]),
    passed: Number(m[2]),
    skipped: Number(m[3]),
    failed: Number(m[4]),
    failures,
    output,
  };
}
