/**
 * Standby in a real pod (issue 12, docs/host-authors.md "Standby"): a Plugin
 * with `spec.standby: true` runs a second native sidecar, `podplug-kv-standby`,
 * in its own folder; the host's client (sidecarAttach) keeps it handshaken as
 * a spare. A SIGKILL of the primary sidecar moves the host's calls to the
 * spare at once, while the kubelet restarts the primary, which becomes the
 * next spare. Timing is the benchmarks' (bench/recovery.ts); here only what
 * happened is checked.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { waitFor } from "../cluster/wait.ts";
import { kubectlOk } from "./cluster.ts";
import {
  callRecordsOf,
  demoPlugins,
  ensureOperator,
  kvCaller,
  type PodJson,
  pod,
  pods,
  shippedHost,
  status,
  yamlOf,
} from "./demo.ts";
import { freshNamespace } from "./pods.ts";
import { useE2ECluster } from "./shared.ts";

const cluster = useE2ECluster();
const NS = "podplug-e2e-standby";
const RESTRICTED = { "pod-security.kubernetes.io/enforce": "restricted" };

async function hostLog(name: string): Promise<string> {
  return kubectlOk(await cluster(), ["-n", NS, "logs", name, "-c", "host", "--tail=3000"]);
}

const records = callRecordsOf;

describe("e2e: a standby sidecar in a real pod", function () {
  this.timeout(300_000);

  before(async () => {
    const c = await cluster();
    await ensureOperator(c);
    await freshNamespace(c, NS, RESTRICTED);
    const kv = demoPlugins().filter((d) => d.metadata.name === "kv");
    kv[0]!.spec.standby = true;
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], yamlOf(kv));
    const host = shippedHost();
    host.spec.template.spec.containers[0]!.command = ["node", "--input-type=module", "-e", kvCaller(500)];
    await kubectlOk(c, ["-n", NS, "apply", "-f", "-"], stringify(host));
  });

  it("SIGKILL of the primary kv sidecar: calls move to the standby sidecar, the kubelet restarts only the primary, and it becomes the next spare", async () => {
    const c = await cluster();
    const p: PodJson = await waitFor(
      "a demo-host pod with podplug-kv and podplug-kv-standby ready",
      async () => {
        const [q] = (await pods(c, NS, "app=demo-host")).filter((x) => !x.metadata.deletionTimestamp);
        return q && status(q, "podplug-kv").ready && status(q, "podplug-kv-standby").ready ? q : undefined;
      },
      180_000,
      500,
    );
    const name = p.metadata.name;
    await waitFor(
      "a call with the spare ready",
      async () => records(await hostLog(name)).find((r) => r.ok && r.standby),
      90_000,
      500,
    );
    const before = { kv: status(p, "podplug-kv"), spare: status(p, "podplug-kv-standby"), host: status(p, "host") };
    assert.ok(before.kv.containerID);
    const t0 = Date.now();
    await c.signalContainer(p.spec.nodeName, before.kv.containerID, "SIGKILL");
    // The client's own word, then a call that succeeded after it.
    await waitFor(
      "the host's client moving calls to the standby instance",
      async () =>
        (await hostLog(name))
          .split("\n")
          .some(
            (l) => l.includes("calls moved to the standby instance") && (JSON.parse(l) as { time: number }).time > t0,
          ),
      60_000,
      250,
    );
    await waitFor(
      "podplug-kv restarted and ready, and the host's client with a ready spare again",
      async () => {
        const s = status(await pod(c, NS, name), "podplug-kv");
        const spareAgain = records(await hostLog(name)).some(
          (r) => r.time > t0 && r.ok && r.standby && r.failovers >= 1,
        );
        return s.restartCount > before.kv.restartCount && s.ready && spareAgain;
      },
      120_000,
      500,
    ).catch(async (err: Error) => {
      const q = await pod(c, NS, name);
      const kv = status(q, "podplug-kv");
      const all = await hostLog(name);
      const other = all
        .split("\n")
        .filter((l) => !l.startsWith('{"msg":"call"'))
        .slice(-40);
      err.message += `\npodplug-kv: restarts ${kv.restartCount} (before ${before.kv.restartCount}), ready ${kv.ready}; last records: ${JSON.stringify(records(all).slice(-3))}\nthe host's other log lines:\n${other.join("\n")}`;
      throw err;
    });
    const after = await pod(c, NS, name);
    assert.equal(status(after, "host").restartCount, before.host.restartCount, "the host did not restart");
    assert.equal(
      status(after, "podplug-kv-standby").restartCount,
      before.spare.restartCount,
      "the standby sidecar did not restart",
    );
    // Calls are made one at a time: only the one in flight at the kill may fail; the next goes to the spare.
    const since = records(await hostLog(name)).filter((r) => r.started > t0 - 100);
    const failed = since.filter((r) => !r.ok);
    assert.ok(failed.length <= 1, `calls failed after the kill: ${JSON.stringify(failed)}`);
    assert.ok(
      since.some((r) => r.ok && r.failovers >= 1),
      "calls succeeded after the failover",
    );
  });

  after(async () => {
    const c = await cluster();
    await c.kubectl(["delete", "namespace", NS, "--wait=false"]);
  });
});
