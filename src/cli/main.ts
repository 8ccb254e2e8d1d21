#!/usr/bin/env node
/**
 * The `podplug` command:
 *   podplug run -f <file|folder>... [--metrics-port N] [--state-dir D] [--no-view]
 *   podplug agent      (the in-pod health agent; configured by environment)
 *   podplug operator [flags]   (the Kubernetes operator; docs/operator.md)
 */
import { parseArgs } from "node:util";
import { isPodplugError } from "../errors.ts";

const USAGE = `usage:
  podplug run -f <file|folder> [-f ...] [--metrics-port N] [--state-dir DIR] [--no-view]
      Runs Plugin manifests and their host workloads on this machine.
  podplug agent
      The in-pod health agent (PODPLUG_SOCKET_ROOT, PODPLUG_PLUGINS, PODPLUG_AGENT_PORT).
  podplug operator [--kubeconfig F] [--watch-namespaces a,b] [--log-level L] ...
      The Kubernetes operator (every flag: podplug operator --help).`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === "agent") {
    const { runAgent } = await import("../agent/main.ts");
    await runAgent(process.env);
    return 0;
  }
  if (cmd === "operator") {
    const { operatorCommand } = await import("../../operator/main.ts");
    return operatorCommand(rest, process.env);
  }
  if (cmd === "run") {
    const { values } = parseArgs({
      args: rest,
      options: {
        file: { type: "string", short: "f", multiple: true },
        "metrics-port": { type: "string" },
        "state-dir": { type: "string" },
        "no-view": { type: "boolean" },
      },
      strict: true,
    });
    if (!values.file?.length) {
      process.stderr.write(`podplug run: give at least one -f <file|folder>\n${USAGE}\n`);
      return 2;
    }
    const port = values["metrics-port"] === undefined ? undefined : Number(values["metrics-port"]);
    if (port !== undefined && !Number.isInteger(port)) {
      process.stderr.write(`podplug run: --metrics-port ${values["metrics-port"]} is not a port number\n`);
      return 2;
    }
    const { run } = await import("../local/run.ts");
    const opts: Parameters<typeof run>[0] = { files: values.file };
    if (port !== undefined) opts.metricsPort = port;
    if (values["state-dir"]) opts.stateDir = values["state-dir"];
    if (values["no-view"]) opts.view = false;
    const r = await run(opts);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    await r.stop();
    return 0;
  }
  process.stderr.write(`${cmd ? `podplug: unknown command ${cmd}\n` : ""}${USAGE}\n`);
  return 2;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  const code = isPodplugError(err) ? err.code : ((err as { code?: string }).code ?? "ERROR");
  process.stderr.write(`podplug: ${(err as Error).message} [${code}]\n`);
  process.exitCode = 2;
}
