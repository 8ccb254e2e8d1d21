/**
 * `podplug inject -f <manifests>`: the dry-run of webhook mode, as
 * `istioctl kube-inject` is Istio's. Prints every document it was given, with
 * each Pod, and the pod template of each workload (Deployment, StatefulSet,
 * DaemonSet, ReplicaSet, Job, CronJob), injected exactly as the webhook
 * injects their Pods: the same function (operator/webhook/pod-injection.ts),
 * the same Plugins (those in the input and in `--plugins` files), the same
 * selection (a Plugin's selector over the Pod's labels, its namespace).
 */
import { readFileSync } from "node:fs";
import type { V1ObjectMeta, V1Pod, V1PodTemplateSpec } from "@kubernetes/client-node";
import { parseAllDocuments, stringify } from "yaml";
import { injectPod } from "../../operator/webhook/pod-injection.ts";
import { PodplugError } from "../errors.ts";
import { PLUGIN_API_VERSION, PLUGIN_KIND, type Plugin } from "../inject/types.ts";
import { manifestFiles } from "../local/manifests.ts";

/** What `podplug inject` was asked. */
export interface InjectCommandOptions {
  files: string[];
  pluginFiles: string[];
  namespace: string;
  launcherImage: string;
  /** Read for `-f -`. */
  stdin?: () => string;
}

type Doc = Record<string, unknown> & { kind?: string; apiVersion?: string; metadata?: V1ObjectMeta };

// Where each workload kind keeps its pod template, and the owner its Pods get (for workloadKinds).
const TEMPLATES: Record<string, { path: string[]; owner: string }> = {
  Deployment: { path: ["spec", "template"], owner: "ReplicaSet" },
  ReplicaSet: { path: ["spec", "template"], owner: "ReplicaSet" },
  StatefulSet: { path: ["spec", "template"], owner: "StatefulSet" },
  DaemonSet: { path: ["spec", "template"], owner: "DaemonSet" },
  Job: { path: ["spec", "template"], owner: "Job" },
  CronJob: { path: ["spec", "jobTemplate", "spec", "template"], owner: "Job" },
};

function readDocs(file: string, text: string): Doc[] {
  const out: Doc[] = [];
  for (const d of parseAllDocuments(text)) {
    if (d.errors.length > 0)
      throw new PodplugError("MANIFEST_INVALID", `${file}: not YAML: ${d.errors[0]!.message}`, { file });
    const v = d.toJS() as unknown;
    if (v === null || v === undefined) continue;
    if (typeof v !== "object" || Array.isArray(v))
      throw new PodplugError("MANIFEST_INVALID", `${file}: a document is not a Kubernetes object`, { file });
    const doc = v as Doc;
    // A List (kubectl get -o yaml) is its items.
    if (doc.kind === "List" && Array.isArray(doc.items)) out.push(...(doc.items as Doc[]));
    else out.push(doc);
  }
  return out;
}

function load(paths: string[], stdin: (() => string) | undefined): { file: string; docs: Doc[] }[] {
  const real = paths.filter((p) => p !== "-");
  const files = real.length > 0 ? manifestFiles(real) : [];
  const out = files.map((f) => ({ file: f, docs: readDocs(f, readFileSync(f, "utf8")) }));
  if (paths.includes("-")) out.unshift({ file: "<stdin>", docs: readDocs("<stdin>", stdin ? stdin() : "") });
  return out;
}

const isPlugin = (d: Doc): boolean => d.kind === PLUGIN_KIND && d.apiVersion === PLUGIN_API_VERSION;

/** The injected documents, as one YAML stream. */
export function injectManifests(o: InjectCommandOptions): string {
  const inputs = load(o.files, o.stdin);
  const plugins: Plugin[] = [];
  for (const { docs } of [...inputs, ...load(o.pluginFiles, o.stdin)])
    for (const d of docs)
      if (isPlugin(d)) {
        const p = d as unknown as Plugin;
        // A copy: the Plugin document is printed as it was given.
        plugins.push({ ...p, metadata: { ...p.metadata, namespace: p.metadata?.namespace ?? o.namespace } });
      }
  const opts = { launcherImage: o.launcherImage };
  const out: Doc[] = [];
  for (const { file, docs } of inputs)
    for (const d of docs) {
      const ns = d.metadata?.namespace ?? o.namespace;
      const where = `${file}: ${d.kind ?? "?"} ${d.metadata?.name ?? "?"}`;
      try {
        if (d.kind === "Pod" && d.apiVersion === "v1") {
          const r = injectPod(d as unknown as V1Pod, ns, plugins, opts);
          out.push(r.injected ? (r.pod as unknown as Doc) : d);
          continue;
        }
        const t = TEMPLATES[d.kind ?? ""];
        if (!t) {
          out.push(d);
          continue;
        }
        const parent = t.path
          .slice(0, -1)
          .reduce<Record<string, unknown> | undefined>((o, k) => o?.[k] as Record<string, unknown> | undefined, d);
        const template = parent?.template as V1PodTemplateSpec | undefined;
        if (!template?.spec) throw new PodplugError("MANIFEST_INVALID", `${where}: no ${t.path.join(".")}.spec`);
        // The Pods the controller makes from it: the template plus an owner, injected, the owner dropped again.
        const meta = {
          ...template.metadata,
          ownerReferences: [{ apiVersion: "v1", kind: t.owner, name: "x", uid: "x" }],
        };
        const r = injectPod({ metadata: meta, spec: template.spec } as V1Pod, ns, plugins, opts);
        if (r.injected) {
          const { ownerReferences: _o, ...metadata } = r.pod.metadata ?? {};
          parent!.template = { metadata, spec: r.pod.spec };
        }
        out.push(d);
      } catch (err) {
        if (err instanceof PodplugError && !err.message.startsWith(file))
          throw new PodplugError<string>(
            err.code,
            `${where}: ${err.message}`,
            { ...err.details, file },
            { cause: err },
          );
        throw err;
      }
    }
  return out.map((d) => stringify(d)).join("---\n");
}
