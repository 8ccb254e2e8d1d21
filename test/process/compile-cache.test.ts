/**
 * V8's compile cache for the Node plugins podplug starts (src/process/compile-cache.ts):
 * the folder it picks, who wins over it, and, on real plugin processes, that a
 * plugin started by the host SDK gets it and fills it even when it is SIGKILLed.
 */
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { handshake, type KV, kvPlugin } from "../../examples/kv/shared.ts";
import { Client } from "../../src/host/index.ts";
import { defaultCompileCacheDir, useCompileCache } from "../../src/process/compile-cache.ts";
import { NODE, ROOT, tempDir, waitFor } from "../helpers.ts";

const PLUGIN = join(ROOT, "test/fixtures/test-plugin.ts");

describe("compile cache of Node plugins", function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir("ptx-cc-");
  });
  afterEach(() => tmp.remove());

  it("defaults to a private folder in the user's cache (XDG_CACHE_HOME, else ~/.cache), mode 0700", () => {
    const dir = defaultCompileCacheDir({ XDG_CACHE_HOME: join(tmp.dir, "xdg") });
    assert.equal(dir, join(tmp.dir, "xdg", "podplug", "node-compile-cache"));
    assert.equal(statSync(dir!).mode & 0o777, 0o700);
    assert.equal(
      defaultCompileCacheDir({ HOME: join(tmp.dir, "home") }),
      join(tmp.dir, "home", ".cache", "podplug", "node-compile-cache"),
    );
  });

  it("gives none, without an error, when its folder cannot be made", () => {
    const file = join(tmp.dir, "a-file");
    writeFileSync(file, "");
    assert.equal(defaultCompileCacheDir({ XDG_CACHE_HOME: file }), undefined, "a file where the folder goes");
    assert.equal(defaultCompileCacheDir({ XDG_CACHE_HOME: join(file, "below") }), undefined, "a path below a file");
  });

  it("never overrides a plugin environment's own NODE_COMPILE_CACHE or NODE_DISABLE_COMPILE_CACHE", () => {
    const own: Record<string, string> = { NODE_COMPILE_CACHE: "/theirs" };
    useCompileCache(own, "/ours");
    assert.equal(own.NODE_COMPILE_CACHE, "/theirs");
    const off: Record<string, string> = { NODE_DISABLE_COMPILE_CACHE: "1" };
    useCompileCache(off, "/ours");
    assert.equal(off.NODE_COMPILE_CACHE, undefined);
    const none: Record<string, string> = {};
    useCompileCache(none, undefined);
    assert.deepEqual(none, {});
  });

  const start = (extra: Partial<ConstructorParameters<typeof Client>[0]>, env: Record<string, string> = {}) =>
    new Client({
      handshake,
      plugins: { kv: kvPlugin() },
      // Not the host's own environment: only what the SDK adds reaches the plugin.
      cmd: { command: NODE, args: [PLUGIN], env, skipHostEnv: true },
      logger: pino({ level: "silent" }),
      metricsRegistry: new Registry(),
      ...extra,
    });

  it("a plugin the host starts gets the folder and fills it before any exit: its restart after a SIGKILL starts from it", async () => {
    const dir = join(tmp.dir, "cache");
    mkdirSync(dir);
    const client = start({ compileCache: dir, backoff: { resetAfterMs: 0 } });
    try {
      const kv = (await client.dispense("kv")) as KV;
      assert.equal((await kv.get("env:NODE_COMPILE_CACHE")).toString(), dir);
      const entries = (): number => readdirSync(dir, { recursive: true }).length;
      // serve() flushes the cache once the handshake is out; a SIGKILL later loses nothing of it.
      await waitFor(() => entries() > 0, 20_000, "the plugin's compile cache written");
      const pid = Number((await kv.get("pid")).toString());
      process.kill(pid, "SIGKILL");
      await waitFor(
        async () => Number((await kv.get("pid").catch(() => Buffer.from(String(pid)))).toString()) !== pid,
        30_000,
        "the restarted plugin answering",
      );
      assert.equal((await kv.get("env:NODE_COMPILE_CACHE")).toString(), dir, "the restart has it too");
    } finally {
      await client.kill();
    }
  });

  it("compileCache: false and the plugin env's own value are left as they are", async () => {
    const off = start({ compileCache: false });
    const theirs = start({ compileCache: join(tmp.dir, "ours") }, { NODE_COMPILE_CACHE: join(tmp.dir, "theirs") });
    try {
      const a = (await off.dispense("kv")) as KV;
      assert.equal((await a.get("env:NODE_COMPILE_CACHE")).toString(), "(unset)");
      const b = (await theirs.dispense("kv")) as KV;
      assert.equal((await b.get("env:NODE_COMPILE_CACHE")).toString(), join(tmp.dir, "theirs"));
    } finally {
      await off.kill();
      await theirs.kill();
    }
  });
});
