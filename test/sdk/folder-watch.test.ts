/**
 * FolderWatch: what wakes a host waiting for a sidecar's handshake file. Each
 * wait here is an hour long, so only the change itself (or the abort) can end
 * it before mocha's timeout.
 */
import assert from "node:assert/strict";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FolderWatch } from "../../src/host/folder-watch.ts";
import { tempDir } from "../helpers.ts";

const HOUR = 3_600_000;

describe("FolderWatch (a sidecar's folder, watched while the host waits)", function () {
  this.timeout(20_000);
  let t: ReturnType<typeof tempDir>;
  let w: FolderWatch | undefined;
  beforeEach(() => (t = tempDir()));
  afterEach(() => {
    w?.close();
    t.remove();
  });

  it("wakes on a file renamed into place, as serve() writes the handshake file", async () => {
    w = new FolderWatch(t.dir);
    w.ensure();
    const woke = w.next(HOUR);
    writeFileSync(join(t.dir, ".handshake.tmp"), "1|1|unix|/s|grpc|\n");
    renameSync(join(t.dir, ".handshake.tmp"), join(t.dir, "handshake"));
    assert.equal(await woke, "change");
  });

  it("a folder that does not exist yet: the poll alone, then the watch once it appears", async () => {
    const dir = join(t.dir, "later");
    w = new FolderWatch(dir);
    w.ensure();
    // No watch: only the time limit ends this wait.
    assert.equal(await w.next(10), "time");
    mkdirSync(dir);
    w.ensure();
    const woke = w.next(HOUR);
    writeFileSync(join(dir, "handshake"), "x");
    assert.equal(await woke, "change");
  });

  it("an abort or close() ends a wait at once", async () => {
    w = new FolderWatch(t.dir);
    w.ensure();
    const stop = new AbortController();
    const aborted = w.next(HOUR, stop.signal);
    stop.abort();
    assert.equal(await aborted, "stopped");
    const closed = w.next(HOUR);
    w.close();
    assert.equal(await closed, "stopped");
  });
});
