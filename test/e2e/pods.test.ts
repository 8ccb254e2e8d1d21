import assert from "node:assert/strict";
import { toolsImage } from "../node/images.ts";
import { kubectlOk } from "./cluster.ts";
import { freshNamespace, podOutcome, toolsPod } from "./pods.ts";
import { useE2ECluster } from "./shared.ts";

const cluster = useE2ECluster();
const NS = "podplug-e2e-pods";

describe("e2e: pods on the cluster", function () {
  this.timeout(180_000);

  before(async () => {
    await freshNamespace(await cluster(), NS, { "pod-security.kubernetes.io/enforce": "restricted" });
  });

  it("runs a pod from a locally loaded image under the restricted standard, which reaches the apiserver through the kubernetes Service", async () => {
    const c = await cluster();
    const script =
      'id -u; touch /x 2>/dev/null && echo writable || echo read-only; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; ' +
      "wget -S -O- http://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/ 2>&1 | grep -m1 -o 'HTTP/1.[01] 400'";
    await kubectlOk(c, ["apply", "-f", "-"], toolsPod("probe", NS, toolsImage(c.images), script));
    const { phase, logs } = await podOutcome(c, NS, "probe");
    assert.equal(phase, "Succeeded", logs);
    const lines = logs.trim().split("\n");
    assert.equal(lines[0], "65534");
    assert.equal(lines[1], "read-only");
    assert.match(logs, /CapEff:\s+0000000000000000/);
    assert.match(logs, /NoNewPrivs:\s+1/);
    assert.match(logs, /Seccomp:\s+2/);
    // The apiserver's TLS port answers plain HTTP with 400: the pod reached it through the Service.
    assert.match(logs, /HTTP\/1\.[01] 400/);
  });

  it("refuses a pod that breaks the restricted standard", async () => {
    const c = await cluster();
    const bare = toolsPod("bare", NS, toolsImage(c.images), "true", null);
    const r = await c.kubectl(["apply", "-f", "-"], bare);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /violates PodSecurity "restricted:latest"/);
  });
});
