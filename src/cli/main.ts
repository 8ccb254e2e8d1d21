#!/usr/bin/env node
/**
 * The `podplug` command:
 *   podplug run -f <file|folder>... [--metrics-port N] [--state-dir D] [--no-view | --view]
 *   podplug operator [flags]   (the Kubernetes operator; docs/operator.md)
 *   podplug inject -f <file|folder|->... [--plugins F] [-n NS] [--launcher-image I]   (webhook mode's dry-run)
 *   podplug reload <plugin> [--state-dir D]   (a plugin of a running `podplug run`)
 *   podplug --help | --version, and `--help` after any command
 */
import { parseArgs } from "node:util";
import { isPodplugError } from "../errors.ts";
import { DEFAULT_LAUNCHER_IMAGE } from "../inject/conventions.ts";
import { nodeAdvice, nodeSatisfies } from "./node-version.ts";
import { podplugPackage } from "./package.ts";

const RUN_USAGE = `usage: podplug run -f <file|folder> [-f ...] [options]

Runs Plugin manifests and the host workloads they select on this machine,
as the operator and the kubelet would in a cluster (docs/local-runtime.md).

options:
  -f, --file <path>        a manifest file, or a folder of .yaml/.yml files (repeatable)
      --metrics-port <n>   port of the runtime's /metrics on 127.0.0.1 (default 9464; 0 = any free port; -1 = none)
      --state-dir <dir>    where volumes and sockets live (default: a new temp folder, removed on exit)
      --no-view            JSON log lines on stdout instead of the live view (the default without a terminal)
      --view               the live view even without a terminal (e.g. piped into a pager or a recording)
      --isolation <mode>   auto (default): as root, each plugin runs as its own user with a 0700 socket folder;
                           uid: that, or fail; none: every process as this user (docs/local-runtime.md)
  -h, --help               this help`;

const OPERATOR_USAGE = `usage: podplug operator [--kubeconfig F] [--watch-namespaces a,b] [--log-level L] [...]

The Kubernetes operator: injects Plugins into the workloads they select.
Every flag with its environment variable and default: podplug operator --help.`;

const INJECT_USAGE = `usage: podplug inject -f <file|folder|-> [-f ...] [options]

Prints the manifests with each Pod, and the pod template of each Deployment,
StatefulSet, DaemonSet, ReplicaSet, Job and CronJob, injected as the
operator's webhook injects their Pods (docs/injection-modes.md). Plugins are
the Plugin documents of the input and of --plugins files; a Plugin selects by
the Pod's (template's) labels in its namespace.

options:
  -f, --file <path>        a manifest file, a folder of .yaml/.yml files, or - for stdin (repeatable)
  -p, --plugins <path>     more Plugin manifests, not printed (repeatable)
  -n, --namespace <ns>     namespace of objects that name none (default: default)
      --launcher-image <ref>  the launcher init container's image, the podplug image (default: the operator's, ${DEFAULT_LAUNCHER_IMAGE})
  -h, --help               this help

Example: podplug inject -f deploy.yaml -p plugins.yaml | kubectl apply -f -`;

const RELOAD_USAGE = `usage: podplug reload <plugin> [--state-dir <dir>] [--timeout <seconds>]

Reloads a plugin of a running \`podplug run\` in every pod that has it: asks it
to shut down (go-plugin's controller Shutdown), the runtime restarts it, and
this waits until the new process serves (docs/local-runtime.md).

options:
      --state-dir <dir>    the run's --state-dir (default: the one running podplug run in the temp folder that has the plugin)
      --timeout <seconds>  how long to wait for each new process (default 30)
  -h, --help               this help`;

const USAGE = `usage: podplug <command> [options]

commands:
  run        run Plugin manifests and their host workloads on this machine
  operator   the Kubernetes operator
  inject     print manifests with their plugins injected (dry-run of the webhook)
  reload     reload a plugin of a running podplug run

options:
  -h, --help       help (also after a command: podplug run --help)
  -V, --version    podplug's version

Docs: README.md and docs/ in the package.`;

/** Writes `text` and returns `code`. */
function say(stream: NodeJS.WriteStream, text: string, code: number): number {
  stream.write(`${text}\n`);
  return code;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) return say(process.stderr, USAGE, 2);
  if (cmd === "--help" || cmd === "-h" || cmd === "help") {
    const topic = { run: RUN_USAGE, operator: OPERATOR_USAGE, inject: INJECT_USAGE, reload: RELOAD_USAGE }[
      rest[0] ?? ""
    ];
    return say(process.stdout, topic ?? USAGE, 0);
  }
  const pkg = podplugPackage();
  if (cmd === "--version" || cmd === "-V") return say(process.stdout, `podplug ${pkg.version}`, 0);
  if (!["run", "operator", "inject", "reload"].includes(cmd))
    return say(process.stderr, `podplug: unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`, 2);
  // Before any work: on an old Node, plugins would crash-loop far from the cause.
  if (!nodeSatisfies(process.version, pkg.engines.node))
    return say(process.stderr, `podplug: ${nodeAdvice(process.version, pkg.engines.node)} [CLI_NODE_UNSUPPORTED]`, 2);
  if (cmd === "operator") {
    // The operator's own command: --help lists every flag with its default; it exits when stopped.
    const { operatorCommand } = await import("../../operator/main.ts");
    return operatorCommand(rest, process.env);
  }
  if (cmd === "inject") return injectCommand(rest);
  if (cmd === "reload") return reloadCommand(rest);
  return runCommand(rest);
}

async function reloadCommand(args: string[]): Promise<number> {
  let values: { "state-dir"?: string; timeout?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: { "state-dir": { type: "string" }, timeout: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: true,
    }));
  } catch (err) {
    return say(process.stderr, `podplug reload: ${(err as Error).message} [CLI_USAGE]\n\n${RELOAD_USAGE}`, 2);
  }
  if (values.help) return say(process.stdout, RELOAD_USAGE, 0);
  if (positionals.length !== 1)
    return say(process.stderr, `podplug reload: name exactly one plugin [CLI_USAGE]\n\n${RELOAD_USAGE}`, 2);
  const seconds = values.timeout === undefined ? 30 : Number(values.timeout);
  if (!(Number.isFinite(seconds) && seconds > 0))
    return say(
      process.stderr,
      `podplug reload: --timeout ${JSON.stringify(values.timeout)} is not a number of seconds [CLI_USAGE]`,
      2,
    );
  const { findRun, reloadPlugin } = await import("./reload.ts");
  const plugin = positionals[0]!;
  const stateDir = findRun(plugin, values["state-dir"]);
  const dirs = await reloadPlugin(stateDir, plugin, seconds * 1000);
  return say(process.stdout, `reloaded ${plugin} in ${dirs.length} pod(s) of ${stateDir}`, 0);
}

async function injectCommand(args: string[]): Promise<number> {
  let values: { file?: string[]; plugins?: string[]; namespace?: string; "launcher-image"?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        file: { type: "string", short: "f", multiple: true },
        plugins: { type: "string", short: "p", multiple: true },
        namespace: { type: "string", short: "n" },
        "launcher-image": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return say(process.stderr, `podplug inject: ${(err as Error).message} [CLI_USAGE]\n\n${INJECT_USAGE}`, 2);
  }
  if (values.help) return say(process.stdout, INJECT_USAGE, 0);
  if (!values.file?.length)
    return say(
      process.stderr,
      `podplug inject: give at least one -f <file|folder|-> [CLI_USAGE]\n\n${INJECT_USAGE}`,
      2,
    );
  const { injectManifests } = await import("./inject.ts");
  const { readFileSync } = await import("node:fs");
  process.stdout.write(
    injectManifests({
      files: values.file,
      pluginFiles: values.plugins ?? [],
      namespace: values.namespace ?? "default",
      launcherImage: values["launcher-image"] ?? DEFAULT_LAUNCHER_IMAGE,
      stdin: () => readFileSync(0, "utf8"),
    }),
  );
  return 0;
}

async function runCommand(args: string[]): Promise<number> {
  let values: {
    file?: string[];
    "metrics-port"?: string;
    "state-dir"?: string;
    "no-view"?: boolean;
    view?: boolean;
    isolation?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        file: { type: "string", short: "f", multiple: true },
        "metrics-port": { type: "string" },
        "state-dir": { type: "string" },
        "no-view": { type: "boolean" },
        view: { type: "boolean" },
        isolation: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return say(process.stderr, `podplug run: ${(err as Error).message} [CLI_USAGE]\n\n${RUN_USAGE}`, 2);
  }
  if (values.help) return say(process.stdout, RUN_USAGE, 0);
  if (values.view && values["no-view"])
    return say(process.stderr, `podplug run: give --view or --no-view, not both [CLI_USAGE]\n\n${RUN_USAGE}`, 2);
  if (!values.file?.length)
    return say(process.stderr, `podplug run: give at least one -f <file|folder> [CLI_USAGE]\n\n${RUN_USAGE}`, 2);
  const raw = values["metrics-port"];
  const port = raw === undefined ? undefined : Number(raw);
  if (port !== undefined && !(/^-?\d+$/.test(raw!) && port >= -1 && port <= 65535))
    return say(
      process.stderr,
      `podplug run: --metrics-port ${JSON.stringify(raw)} is not a port: give 0-65535, 0 for any free port, -1 for none [CLI_USAGE]`,
      2,
    );
  const isolation = values.isolation ?? "auto";
  if (isolation !== "auto" && isolation !== "uid" && isolation !== "none")
    return say(
      process.stderr,
      `podplug run: --isolation ${JSON.stringify(isolation)}: give auto, uid or none [CLI_USAGE]`,
      2,
    );
  const { run } = await import("../local/run.ts");
  const opts: Parameters<typeof run>[0] = { files: values.file, isolation };
  if (port !== undefined) opts.metricsPort = port;
  if (values["state-dir"]) opts.stateDir = values["state-dir"];
  if (values["no-view"]) opts.view = false;
  if (values.view) opts.view = true;
  const r = await run(opts);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await r.stop();
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  const code = isPodplugError(err) ? err.code : ((err as { code?: string }).code ?? "ERROR");
  process.stderr.write(`podplug: ${(err as Error).message} [${code}]\n`);
  process.exitCode = 2;
}
