/** Running the operator as operators do: --help, out of cluster without a Lease namespace, SIGTERM. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../operator/config.ts";
import type { TestCluster } from "../cluster/cluster.ts";
import { run } from "../cluster/kubectl.ts";
import { useSharedCluster } from "../cluster/shared.ts";
import { waitFor } from "../cluster/wait.ts";
import { createNamespace, getJson, installCrd, ROOT, startOperator } from "./helpers.ts";

const cluster = useSharedCluster();

describe("podplug operator --help", () => {
  it("lists every flag with its default and environment variable, and exits 0", async () => {
    const r = await run(process.execPath, [join(ROOT, "src/cli/main.ts"), "operator", "--help"]);
    assert.equal(r.code, 0, r.stderr);
    for (const line of [
      /--kubeconfig="" .*\[env KUBECONFIG\]/,
      /--metrics-bind-address=127\.0\.0\.1:8080 .*\[env METRICS_BIND_ADDRESS\]/,
      /--health-probe-bind-address=127\.0\.0\.1:8081 .*\[env HEALTH_PROBE_BIND_ADDRESS\]/,
      /--leader-elect=true /,
      /--leader-election-namespace=podplug-system .*\[env POD_NAMESPACE\]/,
      /--leader-election-id=podplug-operator /,
      /--identity=<hostname>_<pid> .*\[env POD_NAME\]/,
      /--watch-namespaces="" /,
      /--launcher-image=ghcr\.io\/podplug\/podplug:\S+ /,
      /--log-level=info /,
      /--concurrency=\d+ /,
      /--shutdown-grace-seconds=\d+ /,
      /--help /,
    ])
      assert.match(r.stdout, line);
    // Every flag the help names is one the parser takes, with the value shown as its default.
    const flags = [...r.stdout.matchAll(/^ {2}--([a-z-]+)=(\S+)/gm)];
    assert.ok(flags.length >= 12);
    for (const [, name, dflt] of flags) {
      const value = dflt === '""' || dflt!.startsWith("<") ? "" : dflt!;
      if (value !== "" || name === "kubeconfig" || name === "watch-namespaces")
        assert.doesNotThrow(() => parseConfig([`--${name}=${value}`], {}), `--${name}`);
    }
    const main = await run(process.execPath, [join(ROOT, "operator/main.ts"), "-h"]);
    assert.equal(main.stdout, r.stdout);
  });
});

describe("the operator out of cluster", function () {
  this.timeout(120_000);
  let c: TestCluster;
  before(async function () {
    this.timeout(180_000);
    c = await cluster();
    await installCrd(c);
  });

  it("with a Lease namespace that does not exist: one coded error saying what to do, exit 1", async () => {
    const r = await run(process.execPath, [
      join(ROOT, "operator/main.ts"),
      `--kubeconfig=${c.kubeconfig}`,
      "--metrics-bind-address=127.0.0.1:0",
      "--health-probe-bind-address=127.0.0.1:0",
      "--leader-elect=true",
      "--leader-election-namespace=no-such-namespace",
    ]);
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0]!,
      /the leader-election namespace no-such-namespace does not exist: create it \(kubectl create namespace no-such-namespace\), pass --leader-election-namespace=.*--leader-elect=false .*\[OPERATOR_LEASE_NAMESPACE\]$/,
    );
    assert.doesNotMatch(r.stdout, /lease acquire\/renew failed/);
  });

  it("on SIGTERM as leader: exits 0 by itself within its grace period and has released the Lease", async () => {
    const NS = "sigterm-test";
    await createNamespace(c, NS);
    const op = await startOperator(
      c,
      [
        "--leader-elect=true",
        `--leader-election-namespace=${NS}`,
        "--leader-election-id=sigterm",
        "--identity=only",
        `--watch-namespaces=${NS}`,
        "--shutdown-grace-seconds=1",
      ],
      c.kubeconfig,
      "operator-sigterm",
    );
    const holder = async (): Promise<string> =>
      (await getJson<{ spec: { holderIdentity?: string } }>(c, ["-n", NS, "lease", "sigterm"]))?.spec.holderIdentity ??
      "";
    await waitFor("leader", async () => (await holder()) === "only");
    await waitFor("synced", () => readFileSync(op.proc.logFile, "utf8").includes("caches synced"));
    // Grace 1 s, plus the Lease release (≤ 3 s per request): a SIGKILL at 8 s means it did not stop by itself.
    assert.equal(await op.stop(8000), 0);
    assert.equal(op.proc.child.signalCode, null);
    assert.equal(await holder(), "");
    assert.match(readFileSync(op.proc.logFile, "utf8"), /"msg":"stopped"/);
  });
});
