/**
 * The Prometheus Operator's ServiceMonitor and PodMonitor translated to
 * plain Prometheus scrape configs with Kubernetes service discovery, the way
 * the Prometheus Operator generates them (its `serviceMonitor/<ns>/<name>/<i>`
 * jobs: keep by the selector's labels and the endpoint's port, the
 * `namespace`/`service`/`pod`/`container`/`endpoint` target labels, the
 * default `job`, then the monitor's own relabelings). A cluster without the
 * Prometheus Operator is scraped with the chart's monitors this way.
 * Only what podplug's monitors use is translated; anything else is refused.
 */
import { HarnessError } from "../cluster/errors.ts";

/** How Prometheus reaches and authenticates to the apiserver for discovery. */
export interface DiscoveryAccess {
  apiServer: string;
  caFile: string;
  tokenFile: string;
}

interface Relabeling {
  sourceLabels?: string[];
  separator?: string;
  targetLabel?: string;
  regex?: string;
  replacement?: string;
  action?: string;
}

interface Endpoint {
  port?: string;
  path?: string;
  interval?: string;
  scrapeTimeout?: string;
  relabelings?: Relabeling[];
}

/** A ServiceMonitor or PodMonitor (monitoring.coreos.com/v1) as a plain object. */
export interface Monitor {
  apiVersion?: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: {
    selector?: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] };
    namespaceSelector?: { matchNames?: string[]; any?: boolean };
    endpoints?: Endpoint[];
    podMetricsEndpoints?: Endpoint[];
    jobLabel?: string;
  };
}

/** A Kubernetes label name as a Prometheus meta label suffix. */
const sanitize = (l: string): string => l.replace(/[^a-zA-Z0-9_]/g, "_");

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function relabel(r: Relabeling): Record<string, unknown> {
  const known = new Set(["sourceLabels", "separator", "targetLabel", "regex", "replacement", "action"]);
  const extra = Object.keys(r).filter((k) => !known.has(k));
  if (extra.length > 0)
    throw new HarnessError("CLUSTER_COMMAND_FAILED", `relabeling field(s) ${extra.join(", ")} not translated`);
  return {
    ...(r.sourceLabels ? { source_labels: r.sourceLabels } : {}),
    ...(r.separator !== undefined ? { separator: r.separator } : {}),
    ...(r.targetLabel ? { target_label: r.targetLabel } : {}),
    ...(r.regex !== undefined ? { regex: r.regex } : {}),
    ...(r.replacement !== undefined ? { replacement: r.replacement } : {}),
    action: (r.action ?? "replace").toLowerCase(),
  };
}

/** One scrape config per endpoint of `m`, discovering targets through `access`. */
export function scrapeConfigs(m: Monitor, access: DiscoveryAccess): Record<string, unknown>[] {
  const pod = m.kind === "PodMonitor";
  if (!pod && m.kind !== "ServiceMonitor")
    throw new HarnessError("CLUSTER_COMMAND_FAILED", `${m.kind} is not a ServiceMonitor or PodMonitor`);
  const ns = m.metadata.namespace;
  if (!ns) throw new HarnessError("CLUSTER_COMMAND_FAILED", `${m.kind} ${m.metadata.name} has no namespace`);
  const sel = m.spec.selector ?? {};
  if ((sel.matchExpressions ?? []).length > 0 || m.spec.namespaceSelector?.any || m.spec.jobLabel)
    throw new HarnessError(
      "CLUSTER_COMMAND_FAILED",
      `${m.kind} ${m.metadata.name}: matchExpressions, namespaceSelector.any and jobLabel are not translated`,
    );
  const namespaces = m.spec.namespaceSelector?.matchNames ?? [ns];
  const endpoints = (pod ? m.spec.podMetricsEndpoints : m.spec.endpoints) ?? [];
  const obj = pod ? "pod" : "service";
  return endpoints.map((e, i) => {
    if (!e.port)
      throw new HarnessError("CLUSTER_COMMAND_FAILED", `${m.kind} ${m.metadata.name}: endpoint ${i} names no port`);
    const keep = Object.entries(sel.matchLabels ?? {}).map(([k, v]) => ({
      action: "keep",
      source_labels: [
        `__meta_kubernetes_${obj}_label_${sanitize(k)}`,
        `__meta_kubernetes_${obj}_labelpresent_${sanitize(k)}`,
      ],
      regex: `(${escapeRegex(v)});true`,
    }));
    const portLabel = pod ? "__meta_kubernetes_pod_container_port_name" : "__meta_kubernetes_endpoint_port_name";
    const targets = pod
      ? [
          { source_labels: ["__meta_kubernetes_namespace"], target_label: "namespace" },
          { source_labels: ["__meta_kubernetes_pod_container_name"], target_label: "container" },
          { source_labels: ["__meta_kubernetes_pod_name"], target_label: "pod" },
          { target_label: "job", replacement: `${ns}/${m.metadata.name}` },
        ]
      : [
          {
            source_labels: [
              "__meta_kubernetes_endpoint_address_target_kind",
              "__meta_kubernetes_endpoint_address_target_name",
            ],
            separator: ";",
            regex: "Pod;(.*)",
            replacement: "$1",
            target_label: "pod",
          },
          { source_labels: ["__meta_kubernetes_namespace"], target_label: "namespace" },
          { source_labels: ["__meta_kubernetes_service_name"], target_label: "service" },
          { source_labels: ["__meta_kubernetes_pod_container_name"], target_label: "container" },
          { source_labels: ["__meta_kubernetes_service_name"], target_label: "job", replacement: "$1" },
        ];
    return {
      job_name: `${pod ? "podMonitor" : "serviceMonitor"}/${ns}/${m.metadata.name}/${i}`,
      ...(e.interval ? { scrape_interval: e.interval } : {}),
      ...(e.scrapeTimeout ? { scrape_timeout: e.scrapeTimeout } : {}),
      metrics_path: e.path ?? "/metrics",
      kubernetes_sd_configs: [
        {
          role: pod ? "pod" : "endpoints",
          api_server: access.apiServer,
          tls_config: { ca_file: access.caFile },
          authorization: { type: "Bearer", credentials_file: access.tokenFile },
          namespaces: { names: namespaces },
        },
      ],
      relabel_configs: [
        ...keep,
        { action: "keep", source_labels: [portLabel], regex: escapeRegex(e.port) },
        ...targets,
        { target_label: "endpoint", replacement: e.port },
        ...(e.relabelings ?? []).map(relabel),
      ],
    };
  });
}
