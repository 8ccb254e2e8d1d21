/** The live view's table: one line per container, with what a person needs to see. */
import assert from "node:assert/strict";
import type { LocalPod } from "../../src/local/pod.ts";
import { renderTable } from "../../src/local/view.ts";

function pod(
  containers: Partial<{
    name: string;
    role: string;
    state: string;
    ready: boolean;
    restarts: number;
    pid: number;
    startedAt: number;
    lastExit: string;
  }>[],
): LocalPod {
  return {
    name: "demo-host",
    containers: containers.map((c) => ({
      spec: { name: c.name, role: c.role },
      state: c.state,
      ready: c.ready,
      restarts: c.restarts,
      pid: c.pid,
      startedAt: c.startedAt,
      lastExit: c.lastExit,
    })),
  } as unknown as LocalPod;
}

describe("live view", () => {
  it("shows state, readiness, restarts, pid, age and the last exit, aligned", () => {
    const now = 1_000_000;
    const text = renderTable(
      [
        pod([
          {
            name: "podplug-kv",
            role: "plugin",
            state: "running",
            ready: true,
            restarts: 2,
            pid: 42,
            startedAt: now - 12_000,
            lastExit: "liveness probe failed (signal SIGKILL)",
          },
          { name: "podplug-counter", role: "plugin", state: "crash-loop", ready: false, restarts: 5 },
        ]),
      ],
      now,
    );
    const lines = text.split("\n");
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^POD\s+CONTAINER\s+ROLE\s+STATE\s+READY\s+RESTARTS\s+PID\s+AGE\s+LAST EXIT$/);
    assert.match(lines[1]!, /demo-host\s+podplug-kv\s+plugin\s+running\s+yes\s+2\s+42\s+12s\s+liveness probe failed/);
    assert.match(lines[2]!, /podplug-counter\s+plugin\s+crash-loop\s+no\s+5\s+-\s+-/);
    assert.equal(lines[1]!.indexOf("plugin"), lines[2]!.indexOf("plugin"), "columns line up");
  });
});
