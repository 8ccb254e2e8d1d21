/** Small helpers of the e2e tests: namespaces, pods of the tools image, waiting on them, the operator, pod deletion. */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { stringify } from "yaml";
import { waitFor } from "../cluster/wait.ts";
import { toolsImage } from "../node/images.ts";
import { type E2ECluster, kubectlOk } from "./cluster.ts";

/** Where the e2e files share the chart's operator (`helm install podplug`). */
export const E2E_SYSTEM = "podplug-e2e-system";

/** Installs the chart's operator in {@link E2E_SYSTEM} unless a file before this one did. */
export async function ensureOperator(c: E2ECluster): Promise<void> {
  if ((await c.helm(["status", "podplug", "-n", E2E_SYSTEM])).code === 0) return;
  await freshNamespace(c, E2E_SYSTEM);
  const chart = resolve(import.meta.dirname, "..", "..", "charts/podplug");
  const r = await c.helm(["install", "podplug", chart, "-n", E2E_SYSTEM, "--wait"], 150_000);
  assert.equal(r.code, 0, r.stderr);
}

/** A securityContext that passes the `restricted` Pod Security Standard. */
export const RESTRICTED_CONTAINER = {
  runAsNonRoot: true,
  runAsUser: 65534,
  runAsGroup: 65534,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

/**
 * The same for a container whose image names its own numeric user: a host must
 * run as its image's user (the plugins' too), or it cannot open their sockets.
 */
export const RESTRICTED_IMAGE_USER = Object.fromEntries(
  Object.entries(RESTRICTED_CONTAINER).filter(([k]) => k !== "runAsUser" && k !== "runAsGroup"),
);

/** Creates namespace `name` (deleted first if left from an earlier run), with optional labels. */
export async function freshNamespace(c: E2ECluster, name: string, labels: Record<string, string> = {}): Promise<void> {
  await c.kubectl(["delete", "namespace", name, "--ignore-not-found", "--wait=true"], undefined, 120_000);
  await kubectlOk(
    c,
    ["apply", "-f", "-"],
    stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels } }),
  );
}

/** A pod that runs `script` in the tools image, by default under the restricted securityContext. */
export function toolsPod(
  name: string,
  namespace: string,
  image: string,
  script: string,
  securityContext: object | null = RESTRICTED_CONTAINER,
): string {
  return stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace },
    spec: {
      terminationGracePeriodSeconds: 1,
      restartPolicy: "Never",
      containers: [
        {
          name: "tools",
          image,
          imagePullPolicy: "Never",
          command: ["sh", "-c", script],
          ...(securityContext ? { securityContext } : {}),
        },
      ],
    },
  });
}

/** Waits for a pod to reach `phase` (e.g. Succeeded) and returns its logs. */
export async function podOutcome(
  c: E2ECluster,
  namespace: string,
  name: string,
  timeoutMs = 60_000,
): Promise<{ phase: string; logs: string }> {
  const phase = await waitFor(
    `pod ${namespace}/${name} to finish`,
    async () => {
      const p = await kubectlOk(c, ["-n", namespace, "get", "pod", name, "-o", "jsonpath={.status.phase}"]);
      return p === "Succeeded" || p === "Failed" ? p : undefined;
    },
    timeoutMs,
    250,
  );
  const logs = await kubectlOk(c, ["-n", namespace, "logs", name]);
  return { phase, logs };
}

/**
 * A host Deployment that does not need its plugins to start (the tools image, sleeping), labelled
 * `app: <name>` for a Plugin to select; `extra` adds pod spec fields.
 */
export function sleepingHost(c: E2ECluster, name: string, extra: Record<string, unknown> = {}): string {
  return stringify({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, labels: { app: name } },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: "host",
              image: toolsImage(c.images),
              imagePullPolicy: "Never",
              command: ["sleep", "3600"],
              securityContext: RESTRICTED_CONTAINER,
            },
          ],
          ...extra,
        },
      },
    },
  });
}

/** How a container of a deleted pod ended, as the kubelet last reported it before the pod was gone. */
export interface Termination {
  /** The container's terminated state in the pod's last status (undefined if none was seen). */
  terminated?: { exitCode: number; reason?: string; startedAt?: string; finishedAt?: string };
  /** The pod's deletionTimestamp and grace, from the same watch. */
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  /** Whether the watch saw the pod deleted. */
  deleted: boolean;
  /** Wall time of `kubectl delete pod --wait=true`, ms (for the bench; never asserted). */
  deleteMs: number;
}

interface WatchedPod {
  metadata: { deletionTimestamp?: string; deletionGracePeriodSeconds?: number };
  status?: { containerStatuses?: { name: string; state?: { terminated?: Termination["terminated"] } }[] };
}

/** Splits kubectl's stream of pretty-printed JSON objects (a watch with -o json). */
export function jsonObjects(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === "{") {
      if (depth++ === 0) start = i;
    } else if (ch === "}" && --depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
  }
  return out;
}

/**
 * `kubectl delete pod` of `pod` while watching it: the container's last
 * terminated state says how it stopped (exit 0 after SIGTERM, or 137 when
 * the kubelet had to SIGKILL it at the end of its grace). The watch lasts
 * at most `watchMs`.
 */
export async function deleteAndWatch(
  c: E2ECluster,
  ns: string,
  pod: string,
  container: string,
  watchMs = 15_000,
): Promise<Termination> {
  const watching = c.kubectl(
    ["-n", ns, "get", "pod", pod, "--watch", "--output-watch-events", "-o", "json"],
    undefined,
    watchMs,
  );
  // The watch's first event is the pod as it is now: wait for it, so the deletion cannot be missed.
  await new Promise((r) => setTimeout(r, 1500));
  const t0 = performance.now();
  await kubectlOk(c, ["-n", ns, "delete", "pod", pod, "--wait=true"], undefined, watchMs);
  const deleteMs = performance.now() - t0;
  const events = jsonObjects((await watching).stdout) as { type: string; object: WatchedPod }[];
  const result: Termination = { deleted: events.some((e) => e.type === "DELETED"), deleteMs };
  for (const e of events) {
    const m = e.object.metadata;
    result.deletionTimestamp ??= m.deletionTimestamp;
    // The grace the deletion started with: the kubelet's final delete says 0.
    result.deletionGracePeriodSeconds ??= m.deletionGracePeriodSeconds;
    const t = e.object.status?.containerStatuses?.find((x) => x.name === container)?.state?.terminated;
    if (t) result.terminated = t;
  }
  return result;
}
