/**
 * Reading the manifests `podplug run` runs: Plugin resources and the host
 * workloads (Deployment, StatefulSet, DaemonSet or Pod) they join, from YAML
 * files or folders. Plugins are checked against the CRD's own schema; every
 * error names the file and the field.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { V1PodTemplateSpec } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { type ErrorCode, PodplugError } from "../errors.ts";
import { InjectError } from "../inject/errors.ts";
import { inject } from "../inject/inject.ts";
import { pluginSelects } from "../inject/selector.ts";
import { PLUGIN_API_VERSION, PLUGIN_KIND, type Plugin } from "../inject/types.ts";
import { checkSchema, type OpenAPISchema } from "./schema.ts";

/** A Plugin and where it came from. */
export interface PluginManifest {
  plugin: Plugin;
  file: string;
}

/** A host workload, reduced to what a local run needs. */
export interface HostManifest {
  kind: "Deployment" | "StatefulSet" | "DaemonSet" | "Pod";
  name: string;
  namespace: string;
  labels: Record<string, string>;
  template: V1PodTemplateSpec;
  file: string;
}

/** Everything `podplug run` was given, checked. */
export interface Manifests {
  plugins: PluginManifest[];
  hosts: HostManifest[];
  /** Plugins per host, by the Plugins' selectors. */
  matches: Map<HostManifest, Plugin[]>;
  /** Objects skipped as irrelevant locally (Services, ConfigMaps, ...), for a warning. */
  skipped: string[];
}

const WORKLOADS = new Set(["Deployment", "StatefulSet", "DaemonSet"]);
const IGNORED = new Set([
  "Service",
  "ConfigMap",
  "ServiceAccount",
  "Namespace",
  "Role",
  "RoleBinding",
  "ServiceMonitor",
  "PodDisruptionBudget",
]);

function fail(code: ErrorCode, file: string, field: string, message: string): never {
  throw new PodplugError(code, `${file}: ${field ? `${field}: ` : ""}${message}`, { file, field });
}

/** All YAML files named by `paths` (files, or folders read non-recursively in name order). */
export function manifestFiles(paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const p of paths) {
    if (!existsSync(p)) fail("MANIFEST_INVALID", p, "", "no such file or folder");
    if (statSync(p).isDirectory()) {
      for (const n of readdirSync(p).sort()) if (/\.ya?ml$/.test(n)) files.push(join(p, n));
    } else files.push(p);
  }
  if (files.length === 0) fail("MANIFEST_INVALID", paths.join(", "), "", "no .yaml or .yml files found");
  return files;
}

let crdSchema: OpenAPISchema | undefined;
/** The Plugin CRD's schema, read from crds/ in the package. */
function pluginSchema(): OpenAPISchema {
  if (crdSchema) return crdSchema;
  let dir = import.meta.dirname;
  for (let i = 0; i < 5 && !existsSync(join(dir, "crds", "plugins.podplug.io.yaml")); i++) dir = dirname(dir);
  const crd = parseAllDocuments(readFileSync(join(dir, "crds", "plugins.podplug.io.yaml"), "utf8"))[0]!.toJS() as {
    spec: { versions: { name: string; schema: { openAPIV3Schema: OpenAPISchema } }[] };
  };
  crdSchema = crd.spec.versions.find((v) => v.name === "v1alpha1")!.schema.openAPIV3Schema;
  return crdSchema;
}

/**
 * What the injection itself refuses in a Plugin (a name that is not a
 * DNS-1123 label, a reserved env name, ...), as a manifest error naming the
 * file and the field: the injection is tried on an empty pod.
 */
function checkInjectable(p: Plugin, file: string): void {
  try {
    inject({ spec: { containers: [{ name: "podplug-check", image: "none" }] } }, [p]);
  } catch (err) {
    if (!(err instanceof InjectError)) throw err;
    const field = err.path.replace(/^plugins\[\d+\]\./, "");
    const message = err.message.startsWith(`${err.path}: `) ? err.message.slice(err.path.length + 2) : err.message;
    fail("MANIFEST_INVALID", file, `Plugin ${JSON.stringify(p.metadata.name)}: ${field}`, message);
  }
}

/** Reads and checks the manifests in `paths`. */
export function loadManifests(paths: readonly string[]): Manifests {
  const plugins: PluginManifest[] = [];
  const hosts: HostManifest[] = [];
  const skipped: string[] = [];
  for (const file of manifestFiles(paths).map((f) => resolve(f))) {
    // logLevel "error": yaml's warnings (a collection as a key, ...) would reach stderr as Node warnings.
    const docs = parseAllDocuments(readFileSync(file, "utf8"), { logLevel: "error" });
    docs.forEach((doc, i) => {
      if (doc.errors.length > 0) {
        const e = doc.errors[0]!;
        fail("MANIFEST_INVALID", file, `document ${i + 1}`, `not valid YAML: ${e.message.split("\n")[0]}`);
      }
      let obj: unknown;
      try {
        obj = doc.toJS();
      } catch (err) {
        // toJS refuses an alias to no anchor and an alias "bomb" (yaml's maxAliasCount) with a ReferenceError.
        fail("MANIFEST_INVALID", file, `document ${i + 1}`, `not valid YAML: ${(err as Error).message}`);
      }
      if (obj === null || obj === undefined) return;
      if (typeof obj !== "object" || Array.isArray(obj))
        fail("MANIFEST_INVALID", file, `document ${i + 1}`, "is not a Kubernetes object");
      const o = obj as {
        apiVersion?: unknown;
        kind?: unknown;
        metadata?: { name?: unknown; namespace?: unknown; labels?: Record<string, string> };
        spec?: Record<string, unknown>;
      };
      const where = `${String(o.kind)} ${String(o.metadata?.name ?? `#${i + 1}`)}`;
      if (typeof o.kind !== "string" || typeof o.apiVersion !== "string")
        fail("MANIFEST_INVALID", file, `document ${i + 1}`, "needs apiVersion and kind");
      if (typeof o.metadata?.name !== "string" || o.metadata.name === "")
        fail("MANIFEST_INVALID", file, `${where}: metadata.name`, "is required");
      const namespace = typeof o.metadata.namespace === "string" ? o.metadata.namespace : "default";
      if (o.kind === PLUGIN_KIND && o.apiVersion === PLUGIN_API_VERSION) {
        // The schema check passes a null spec as absent; everything below reads it.
        if (typeof o.spec !== "object" || o.spec === null || Array.isArray(o.spec))
          fail("MANIFEST_INVALID", file, `Plugin ${o.metadata.name}: spec`, "is required (a map)");
        const violations = checkSchema(o, pluginSchema(), "");
        if (violations.length > 0) {
          const v = violations[0]!;
          fail(
            "MANIFEST_INVALID",
            file,
            `Plugin ${o.metadata.name}: ${v.field}`,
            `${v.message}${violations.length > 1 ? ` (and ${violations.length - 1} more)` : ""}`,
          );
        }
        const p = o as unknown as Plugin;
        if (!p.spec.command || p.spec.command.length === 0) {
          fail(
            "MANIFEST_INVALID",
            file,
            `Plugin ${o.metadata.name}: spec.command`,
            "is required by podplug run: images are not pulled locally, so give the command that starts the plugin",
          );
        }
        checkInjectable(p, file);
        const dup = plugins.find(
          (q) => q.plugin.metadata.name === p.metadata.name && (q.plugin.metadata.namespace ?? "default") === namespace,
        );
        if (dup)
          fail(
            "MANIFEST_DUPLICATE",
            file,
            `Plugin ${o.metadata.name}: metadata.name`,
            `a Plugin of this name is already defined in ${dup.file}; plugin names must be unique`,
          );
        plugins.push({ plugin: p, file });
      } else if (WORKLOADS.has(o.kind) || o.kind === "Pod") {
        const template: V1PodTemplateSpec | undefined =
          o.kind === "Pod"
            ? { metadata: o.metadata as V1PodTemplateSpec["metadata"], spec: o.spec as V1PodTemplateSpec["spec"] }
            : (o.spec?.template as V1PodTemplateSpec | undefined);
        const field = o.kind === "Pod" ? "spec.containers" : "spec.template.spec.containers";
        if (!template?.spec || !Array.isArray(template.spec.containers) || template.spec.containers.length === 0)
          fail("MANIFEST_INVALID", file, `${where}: ${field}`, "needs at least one container");
        template.spec.containers.forEach((c, ci) => {
          if (typeof c !== "object" || c === null || Array.isArray(c))
            fail(
              "MANIFEST_INVALID",
              file,
              `${where}: ${field}[${ci}]`,
              "is not a container (a map with name and command)",
            );
          if (c.command !== undefined && !(Array.isArray(c.command) && c.command.every((a) => typeof a === "string")))
            fail("MANIFEST_INVALID", file, `${where}: ${field}[${ci}].command`, "must be a list of strings");
          if (!c.command || c.command.length === 0)
            fail(
              "MANIFEST_INVALID",
              file,
              `${where}: ${field}[${ci}].command`,
              `container ${c.name} has no command; podplug run starts containers by their command`,
            );
        });
        const labels: unknown = o.metadata.labels ?? {};
        if (
          typeof labels !== "object" ||
          labels === null ||
          Array.isArray(labels) ||
          !Object.values(labels).every((v) => typeof v === "string")
        )
          fail("MANIFEST_INVALID", file, `${where}: metadata.labels`, "must be a map of strings");
        hosts.push({
          kind: o.kind as HostManifest["kind"],
          name: o.metadata.name,
          namespace,
          labels: labels as Record<string, string>,
          template,
          file,
        });
      } else if (IGNORED.has(o.kind)) {
        skipped.push(`${file}: ${where}`);
      } else {
        fail(
          "MANIFEST_UNSUPPORTED",
          file,
          where,
          `podplug run understands Plugin (${PLUGIN_API_VERSION}), Deployment, StatefulSet, DaemonSet and Pod; this ${o.apiVersion} ${o.kind} cannot run locally`,
        );
      }
    });
  }
  if (hosts.length === 0)
    fail(
      "MANIFEST_NO_HOST",
      paths.join(", "),
      "",
      "no host workload (Deployment, StatefulSet, DaemonSet or Pod) to run the plugins in",
    );
  const matches = new Map<HostManifest, Plugin[]>(hosts.map((h) => [h, []]));
  for (const { plugin, file } of plugins) {
    const ns = plugin.metadata.namespace ?? "default";
    const hit = hosts.filter((h) => h.namespace === ns && pluginSelects(plugin, h.kind, h.labels));
    if (hit.length === 0) {
      fail(
        "MANIFEST_NO_MATCH",
        file,
        `Plugin ${plugin.metadata.name}: spec.selector`,
        `matches no host workload in namespace ${ns} (workloads: ${hosts.map((h) => `${h.kind} ${h.name} ${JSON.stringify(h.labels)}`).join("; ")})`,
      );
    }
    for (const h of hit) matches.get(h)!.push(plugin);
  }
  return { plugins, hosts, matches, skipped };
}
