/**
 * The agent answers inside the probe's budget (issue 19): a hung plugin is a
 * 503 with its reason before the kubelet's own timeout, never a client-side
 * "context deadline exceeded"; the reason is in the agent's log with the
 * plugin's name bound.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { budgetedPath, checkBudgetMs, requestBudgetMs } from "../../src/agent/budget.ts";
import { NODE, ROOT, tempDir, waitFor } from "../helpers.ts";

/** A socket that accepts connections and never answers: a SIGSTOPped plugin as the agent sees it. */
function hungSocket(path: string): Promise<{ close(): void }> {
  const accepted = new Set<Socket>();
  const s = createServer((c) => {
    accepted.add(c);
    c.on("close", () => accepted.delete(c));
  });
  // Closing the listener leaves accepted connections open: end them too, or the run leaks their handles.
  const close = (): void => {
    for (const c of accepted) c.destroy();
    s.close();
  };
  return new Promise((r) => s.listen(path, () => r({ close })));
}

/** GET with a client deadline, as the kubelet's probe does: `timeout` when it passes. */
async function probe(url: string, timeoutMs: number): Promise<{ status: number; body: string } | "timeout"> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: r.status, body: await r.text() };
  } catch (err) {
    if ((err as Error).name === "TimeoutError") return "timeout";
    throw err;
  }
}

describe("the agent's check budget", function () {
  this.timeout(30_000);

  it("derives the budget from the probe's timeoutSeconds, leaving the kubelet a margin", () => {
    assert.equal(checkBudgetMs(1), 800);
    assert.equal(checkBudgetMs(2), 1600);
    assert.equal(checkBudgetMs(10), 8000);
    for (const s of [1, 2, 3, 5, 30]) assert.ok(checkBudgetMs(s) <= s * 1000 - 200, `${s} s`);
    assert.equal(budgetedPath("/livez/kv", 1), "/livez/kv?timeoutMs=800");
  });

  it("reads ?timeoutMs= and refuses junk", () => {
    const q = (s: string): URLSearchParams => new URLSearchParams(s);
    assert.equal(requestBudgetMs(q(""), 800), 800);
    assert.equal(requestBudgetMs(q("timeoutMs=300"), 800), 300);
    for (const bad of [
      "timeoutMs=",
      "timeoutMs=0",
      "timeoutMs=-1",
      "timeoutMs=1e3",
      "timeoutMs=60001",
      "timeoutMs=999999999",
    ])
      assert.equal(requestBudgetMs(q(bad), 800), undefined, bad);
  });

  describe("a running agent and a hung plugin", () => {
    let t: ReturnType<typeof tempDir>;
    let agent: ChildProcess;
    let hung: { close(): void };
    let url: string;
    let log = "";
    before(async () => {
      t = tempDir("pb-");
      mkdirSync(join(t.dir, "kv"));
      hung = await hungSocket(join(t.dir, "kv", "plugin1234"));
      agent = spawn(NODE, [join(ROOT, "src", "agent", "main.ts")], {
        env: {
          ...process.env,
          PODPLUG_SOCKET_ROOT: t.dir,
          PODPLUG_PLUGINS: "kv",
          PODPLUG_AGENT_PORT: "0",
          PODPLUG_AGENT_HOST: "127.0.0.1",
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      agent.stdout!.on("data", (d: Buffer) => (log += d.toString()));
      agent.stderr!.resume();
      const port = await waitFor(() => /"port":(\d+)/.exec(log)?.[1], 10_000, "the agent to listen");
      url = `http://127.0.0.1:${port}`;
    });
    after(async () => {
      agent.kill("SIGTERM");
      await new Promise((r) => agent.once("close", r));
      hung.close();
      t.remove();
    });

    it("answers 503 with the reason within the probe's 1 s, as the injection's path asks", async () => {
      const r = await probe(`${url}${budgetedPath("/livez/kv", 1)}`, 1000);
      assert.ok(r !== "timeout", "the kubelet would see a deadline, not the agent's answer");
      assert.equal(r.status, 503);
      assert.match(
        r.body,
        /did not answer its health check within 800 ms .*\[AGENT_CHECK_FAILED\]|DEADLINE_EXCEEDED.*\[AGENT_CHECK_FAILED\]/,
      );
    });

    it("without a budget in the path, also answers inside 1 s (the kubelet's default timeout)", async () => {
      const r = await probe(`${url}/readyz/kv`, 1000);
      assert.ok(r !== "timeout");
      assert.equal(r.status, 503);
    });

    it("refuses a bad budget with 400", async () => {
      const r = await probe(`${url}/livez/kv?timeoutMs=abc`, 1000);
      assert.ok(r !== "timeout");
      assert.equal(r.status, 400);
    });

    it("logs each failure as pino JSON with the plugin's name, probe and code bound", async () => {
      await probe(`${url}/livez/kv?timeoutMs=200`, 1000);
      const lines = await waitFor(
        () => {
          const l = log
            .split("\n")
            .filter(Boolean)
            .map((x) => JSON.parse(x) as Record<string, unknown>)
            .filter((x) => x.plugin === "kv" && x.budgetMs === 200);
          return l.length > 0 ? l : undefined;
        },
        5000,
        "the failure in the agent's log",
      );
      assert.equal(lines[0]!.probe, "livez");
      assert.equal(lines[0]!.code, "AGENT_CHECK_FAILED");
      assert.equal(lines[0]!.level, 40);
      assert.match(String(lines[0]!.msg), /kv/);
    });
  });
});
