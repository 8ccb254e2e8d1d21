import { stringify } from "yaml";
import { waitFor } from "../cluster/wait.ts";
import { toolsImage } from "../node/images.ts";
import { type E2ECluster, kubectlOk } from "./cluster.ts";

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

/** How the containers of a deleted pod ended, as the kubelet last reported them. */
export interface Termination {
  /** Each container's terminated state (init containers too), by name. */
  terminated: Record<string, { exitCode: number; reason?: string }>;
  /** The grace the deletion started with. */
  deletionGracePeriodSeconds?: number;
}

interface HeldPod {
  metadata: { deletionGracePeriodSeconds?: number };
  status?: {
    containerStatuses?: { name: string; state?: { terminated?: { exitCode: number; reason?: string } } }[];
    initContainerStatuses?: { name: string; state?: { terminated?: { exitCode: number; reason?: string } } }[];
  };
}

/** A finalizer of the e2e tests: it holds a deleted pod's object until its final status is read. */
const HOLD = "podplug.io/e2e-hold";

/**
 * `kubectl delete pod` of `pod`, holding its object with a finalizer until
 * `container` has terminated, then reading every container's last state:
 * exit 0 after SIGTERM, or 137 when the kubelet had to SIGKILL it at the end
 * of its grace. Waits at most `ms` for the container to end.
 */
export async function deleteAndRead(
  c: E2ECluster,
  ns: string,
  pod: string,
  container: string,
  ms = 60_000,
): Promise<Termination> {
  await kubectlOk(c, [
    "-n",
    ns,
    "patch",
    "pod",
    pod,
    "--type=merge",
    "-p",
    JSON.stringify({ metadata: { finalizers: [HOLD] } }),
  ]);
  await kubectlOk(c, ["-n", ns, "delete", "pod", pod, "--wait=false"]);
  try {
    const held = await waitFor(
      `${container} of pod ${ns}/${pod} to end after its deletion`,
      async () => {
        const p = JSON.parse(await kubectlOk(c, ["-n", ns, "get", "pod", pod, "-o", "json"])) as HeldPod;
        const all = [...(p.status?.containerStatuses ?? []), ...(p.status?.initContainerStatuses ?? [])];
        return all.find((x) => x.name === container)?.state?.terminated ? { p, all } : undefined;
      },
      ms,
      250,
    );
    const out: Termination = { terminated: {} };
    if (held.p.metadata.deletionGracePeriodSeconds !== undefined)
      out.deletionGracePeriodSeconds = held.p.metadata.deletionGracePeriodSeconds;
    for (const x of held.all) if (x.state?.terminated) out.terminated[x.name] = x.state.terminated;
    return out;
  } finally {
    await c.kubectl([
      "-n",
      ns,
      "patch",
      "pod",
      pod,
      "--type=json",
      "-p",
      JSON.stringify([{ op: "remove", path: "/metadata/finalizers" }]),
    ]);
  }
}
