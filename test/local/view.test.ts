/** The live view's table: one line per container, with what a person needs to see. */
import assert from "node:assert/strict";
import type { LocalPod } from "../../src/local/pod.ts";
import { formatSeconds, renderRed, renderTable } from "../../src/local/view.ts";

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

  it("the call table: one line per plugin of each host that serves metrics, rate, errors and p99, aligned; nothing without one", () => {
    const text = renderRed([
      {
        pod: "demo-host",
        host: "host",
        plugins: [
          { plugin: "counter", rate: 1, errors: 0, p99: 0.000412 },
          { plugin: "kv", rate: 2.04, errors: 0.5, p99: undefined },
        ],
      },
    ]);
    const lines = text.split("\n");
    assert.match(lines[0]!, /^POD\s+HOST\s+PLUGIN\s+CALLS\/S\s+ERRORS\/S\s+P99$/);
    assert.match(lines[1]!, /^demo-host\s+host\s+counter\s+1\.0\s+0\.0\s+412µs$/);
    assert.match(lines[2]!, /^demo-host\s+host\s+kv\s+2\.0\s+0\.5\s+-$/);
    assert.equal(lines[1]!.indexOf("1.0"), lines[2]!.indexOf("2.0"), "columns line up");
    assert.equal(renderRed([]), "");
    assert.equal(renderRed([{ pod: "p", host: "h", plugins: [] }]), "");
    assert.deepEqual([0.0000005, 0.0123, 2.5, undefined, Number.NaN].map(formatSeconds), [
      "0.5µs",
      "12.3ms",
      "2.5s",
      "-",
      "-",
    ]);
  });
});
