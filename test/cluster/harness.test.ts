import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { NODE, ROOT } from "../helpers.ts";
import { KUBE_VERSION, kubeBinary } from "./binaries.ts";
import { TestCluster } from "./cluster.ts";
import { run } from "./kubectl.ts";
import { useSharedCluster } from "./shared.ts";
import { waitFor } from "./wait.ts";

const cluster = useSharedCluster();

describe("the test cluster harness", function () {
  this.timeout(180_000);

  it("starts etcd and kube-apiserver on loopback with a kubeconfig that kubectl uses", async () => {
    const c = await cluster();
    assert.match(c.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    const v = JSON.parse(await c.kubectlOk(["version", "-o", "json"])) as { serverVersion: { gitVersion: string } };
    assert.equal(v.serverVersion.gitVersion, KUBE_VERSION, "the apiserver is the version mk/versions.env pins");
    assert.match(await c.kubectlOk(["get", "--raw", "/readyz"]), /ok/);
  });

  it("names a missing binary and the command that builds it", () => {
    const saved = process.env.PODPLUG_CACHE;
    process.env.PODPLUG_CACHE = "/nonexistent-podplug-cache";
    try {
      assert.throws(
        () => kubeBinary("kube-apiserver"),
        (err: Error & { code?: string }) =>
          err.code === "CLUSTER_BINARY_MISSING" && /run `make test-deps`/.test(err.message),
      );
    } finally {
      if (saved === undefined) delete process.env.PODPLUG_CACHE;
      else process.env.PODPLUG_CACHE = saved;
    }
  });

  it("refuses to hand out a kubeconfig or a component it does not have", () => {
    const c = new TestCluster();
    assert.throws(() => c.kubeconfig, { code: "CLUSTER_NOT_READY" });
    assert.throws(() => c.component("kubelet"), { code: "CLUSTER_START_FAILED" });
    return c.stop();
  });

  for (const signal of ["SIGINT", "SIGTERM"] as const)
    it(`${signal} to the test process stops etcd and the apiserver and removes the run folder`, async () => {
      const child = spawn(NODE, [join(ROOT, "test/cluster/fixtures/interrupted.ts")], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      const dir = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once("line", resolve);
        child.once("exit", () => reject(new Error("the fixture exited before its cluster started")));
      });
      const holders = () =>
        readdirSync("/proc")
          .filter((p) => /^\d+$/.test(p))
          .filter((p) => {
            try {
              return readFileSync(`/proc/${p}/cmdline`, "utf8").includes(dir);
            } catch {
              return false; // gone while we looked
            }
          });
      assert.ok(holders().length >= 2, "etcd and the apiserver run with the run folder in their command lines");
      child.kill(signal);
      assert.equal(await exited, 130);
      assert.deepEqual(holders(), [], "no process of that cluster is left");
      assert.equal(existsSync(dir), false, "its run folder is removed");
    });

  it("run() streams a command's lines as they come and ends it when aborted", async () => {
    const lines: string[] = [];
    const stop = new AbortController();
    // Two whole lines, one without its newline yet, then a command that would run for a minute.
    const r = await run("sh", ["-c", "printf 'one\\ntwo\\nthr'; sleep 0.2; printf 'ee\\n'; exec sleep 60"], {
      onLine: (l) => {
        lines.push(l);
        if (l === "three") stop.abort();
      },
      signal: stop.signal,
      timeoutMs: 120_000,
    });
    assert.deepEqual(lines, ["one", "two", "three"], "whole lines, a line split across reads joined");
    assert.equal(r.stdout, "one\ntwo\nthree\n");
    assert.notEqual(r.code, 0, "killed by the abort (sleep would have exited 0)");
  });

  it("run() gives a last line that has no newline, and kills a command whose signal was aborted before it started", async () => {
    const lines: string[] = [];
    const r = await run("sh", ["-c", "printf 'last'"], { onLine: (l) => lines.push(l) });
    assert.deepEqual(lines, ["last"]);
    assert.equal(r.code, 0);
    const aborted = AbortSignal.abort();
    const k = await run("sh", ["-c", "exec sleep 60"], { signal: aborted, timeoutMs: 120_000 });
    assert.notEqual(k.code, 0, "killed, not left to sleep");
  });

  it("waitFor names what it waited for on timeout", async () => {
    await assert.rejects(
      waitFor("the impossible", () => false, 50, 10),
      (err: Error & { code?: string }) =>
        err.code === "CLUSTER_NOT_READY" && /waiting for the impossible/.test(err.message),
    );
  });
});
