import assert from "node:assert/strict";
import type { V1PodTemplateSpec } from "@kubernetes/client-node";
import { PLUGIN_ENV } from "../../src/constants.ts";
import {
  LAUNCHER_BIN,
  LAUNCHER_CONTAINER,
  LAUNCHER_DIR,
  LAUNCHER_VOLUME,
  PLUGINS_ANNOTATION,
  SOCKET_ROOT,
  SOCKET_VOLUME,
} from "../../src/inject/conventions.ts";
import { inject } from "../../src/inject/inject.ts";
import type { Plugin } from "../../src/inject/types.ts";

function plugin(name: string, over: Partial<Plugin["spec"]> = {}): Plugin {
  return {
    apiVersion: "podplug.io/v1alpha1",
    kind: "Plugin",
    metadata: { name, namespace: "default" },
    spec: {
      image: `example/${name}:1`,
      handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersions: [2, 1] },
      selector: { matchLabels: { app: "host" } },
      ...over,
    },
  };
}

function template(): V1PodTemplateSpec {
  return {
    metadata: { labels: { app: "host" }, annotations: { team: "a" } },
    spec: {
      initContainers: [{ name: "migrate", image: "m:1" }],
      containers: [
        {
          name: "host",
          image: "h:1",
          env: [{ name: "A", value: "1" }],
          volumeMounts: [{ name: "data", mountPath: "/data" }],
        },
        { name: "proxy", image: "p:1" },
      ],
      volumes: [{ name: "data", emptyDir: {} }],
    },
  };
}

describe("inject (pure)", () => {
  it("adds the launcher init container first, then one native sidecar per plugin sorted by name, before the user init containers; no agent", () => {
    const out = inject(template(), [plugin("kv"), plugin("counter")], { launcherImage: "podplug:1" });
    assert.deepEqual(
      out.spec!.initContainers!.map((c) => c.name),
      [LAUNCHER_CONTAINER, "podplug-counter", "podplug-kv", "migrate"],
    );
    const [copy, ...sidecars] = out.spec!.initContainers!;
    // A regular init container: it runs to completion before the first sidecar starts.
    assert.equal(copy!.restartPolicy, undefined);
    assert.equal(copy!.image, "podplug:1");
    assert.deepEqual(copy!.command, ["/podplug/launcher/podplug-launcher", "copy", LAUNCHER_DIR]);
    assert.deepEqual(copy!.volumeMounts, [{ name: LAUNCHER_VOLUME, mountPath: LAUNCHER_DIR }]);
    for (const c of sidecars.slice(0, 2)) assert.equal(c.restartPolicy, "Always");
    assert.ok(!JSON.stringify(out).includes("agent"), "nothing of the agent is left");
    // The old option name (the operator's) still names the image.
    const old = inject(template(), [plugin("kv")], { launcherImage: "podplug:2" });
    assert.equal(old.spec!.initContainers![0]!.image, "podplug:2");
  });

  it("runs the Plugin's command under the launcher, args unchanged; without a command, the image's entrypoint unwrapped", () => {
    const out = inject(template(), [plugin("kv", { command: ["/grpc-plugin"], args: ["-v"] }), plugin("bare")]);
    const kv = out.spec!.initContainers!.find((x) => x.name === "podplug-kv")!;
    assert.deepEqual(kv.command, [LAUNCHER_BIN, "run", "--", "/grpc-plugin"]);
    assert.deepEqual(kv.args, ["-v"]);
    assert.equal(kv.terminationMessagePolicy, "FallbackToLogsOnError");
    const bare = out.spec!.initContainers!.find((x) => x.name === "podplug-bare")!;
    assert.equal(bare.command, undefined, "the launcher cannot know an image's entrypoint");
    // Probed by the launcher either way (it finds a bare plugin's socket as a host does).
    assert.equal(bare.livenessProbe!.exec!.command![0], LAUNCHER_BIN);
    for (const c of [kv, bare])
      assert.deepEqual(c.volumeMounts!.at(-1), { name: LAUNCHER_VOLUME, mountPath: LAUNCHER_DIR, readOnly: true });
    assert.deepEqual(
      out.spec!.volumes!.find((v) => v.name === LAUNCHER_VOLUME),
      {
        name: LAUNCHER_VOLUME,
        emptyDir: { sizeLimit: "64Mi" },
      },
    );
  });

  it("gives host containers without a readinessProbe of their own the launcher's host readiness over their Plugins", () => {
    const t = template();
    t.spec!.containers[1]!.readinessProbe = { httpGet: { path: "/ready", port: 80 } };
    const out = inject(t, [plugin("kv"), plugin("counter"), plugin("quiet", { hostReadiness: false })]);
    const [host, proxy] = out.spec!.containers;
    assert.deepEqual(host!.readinessProbe, {
      exec: { command: [LAUNCHER_BIN, "ready", "counter", "kv"] },
      initialDelaySeconds: 0,
      periodSeconds: 2,
      timeoutSeconds: 1,
      failureThreshold: 1,
    });
    assert.ok(host!.volumeMounts!.some((m) => m.name === LAUNCHER_VOLUME && m.readOnly === true));
    assert.deepEqual(proxy!.readinessProbe, { httpGet: { path: "/ready", port: 80 } }, "its own probe is kept");
    assert.ok(!proxy!.volumeMounts!.some((m) => m.name === LAUNCHER_VOLUME));
    // Idempotent, and gone with the Plugins.
    assert.deepEqual(inject(out, [plugin("kv"), plugin("counter"), plugin("quiet", { hostReadiness: false })]), out);
    assert.deepEqual(inject(out, []), t);
    // Every Plugin off: no host probe.
    const off = inject(template(), [plugin("kv", { hostReadiness: false })]);
    assert.equal(off.spec!.containers[0]!.readinessProbe, undefined);
  });

  it("sets the handshake environment of docs/architecture.md on the plugin", () => {
    const out = inject(template(), [plugin("kv", { env: [{ name: "EXTRA", value: "x" }] })]);
    const c = out.spec!.initContainers!.find((x) => x.name === "podplug-kv")!;
    const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value]));
    assert.deepEqual(env, {
      BASIC_PLUGIN: "hello",
      PLUGIN_PROTOCOL_VERSIONS: "1,2",
      PLUGIN_UNIX_SOCKET_DIR: "/var/run/podplug/kv",
      PODPLUG_PLUGIN_NAME: "kv",
      PODPLUG_HANDSHAKE_FILE: "/var/run/podplug/kv/handshake",
      EXTRA: "x",
    });
  });

  it("mounts only the plugin sub-folder in the plugin and the whole volume in every host container", () => {
    const out = inject(template(), [plugin("kv")]);
    const c = out.spec!.initContainers!.find((x) => x.name === "podplug-kv")!;
    assert.deepEqual(c.volumeMounts, [
      { name: SOCKET_VOLUME, mountPath: "/var/run/podplug/kv", subPath: "kv" },
      { name: LAUNCHER_VOLUME, mountPath: LAUNCHER_DIR, readOnly: true },
    ]);
    for (const h of out.spec!.containers) {
      assert.ok(
        h.volumeMounts!.some((m) => m.name === SOCKET_VOLUME && m.mountPath === SOCKET_ROOT && !m.subPath),
        h.name,
      );
      assert.equal(h.env!.find((e) => e.name === "PODPLUG_PLUGINS")!.value, "kv");
      assert.equal(h.env!.find((e) => e.name === "PODPLUG_SOCKET_ROOT")!.value, SOCKET_ROOT);
    }
    assert.deepEqual(
      out.spec!.volumes!.map((v) => v.name),
      ["data", SOCKET_VOLUME, LAUNCHER_VOLUME],
    );
    assert.equal(out.metadata!.annotations![PLUGINS_ANNOTATION], "kv");
    assert.equal(out.metadata!.annotations!.team, "a");
  });

  it("probes the plugin with an exec of the launcher's probe, with the Plugin's timing over the defaults", () => {
    const out = inject(template(), [plugin("kv", { probes: { liveness: { periodSeconds: 7, failureThreshold: 5 } } })]);
    const c = out.spec!.initContainers!.find((x) => x.name === "podplug-kv")!;
    assert.deepEqual(c.livenessProbe, {
      exec: { command: [LAUNCHER_BIN, "probe", "-timeout", "800ms"] },
      initialDelaySeconds: 5,
      periodSeconds: 7,
      timeoutSeconds: 1,
      failureThreshold: 5,
      terminationGracePeriodSeconds: 1,
    });
    // Readiness keeps a 2 s timeout by default: its budget is 1.6 s.
    assert.deepEqual(c.readinessProbe!.exec!.command, [LAUNCHER_BIN, "probe", "-timeout", "1600ms"]);
    const two = inject(template(), [plugin("kv", { probes: { liveness: { timeoutSeconds: 2, periodSeconds: 2 } } })]);
    assert.equal(
      two.spec!.initContainers!.find((x) => x.name === "podplug-kv")!.livenessProbe!.exec!.command!.at(-1),
      "1600ms",
      "the check's budget follows the probe's own timeout and stays inside it",
    );
  });

  it("gives every liveness probe a short probe-level grace (a hung plugin ignores SIGTERM), the Plugin's if set", () => {
    const out = inject(template(), [
      plugin("a"),
      plugin("b", { probes: { liveness: { terminationGracePeriodSeconds: 7 } } }),
    ]);
    const probeOf = (n: string) => out.spec!.initContainers!.find((x) => x.name === `podplug-${n}`)!;
    assert.deepEqual(probeOf("a").livenessProbe, {
      exec: { command: [LAUNCHER_BIN, "probe", "-timeout", "800ms"] },
      initialDelaySeconds: 5,
      periodSeconds: 1,
      timeoutSeconds: 1,
      failureThreshold: 2,
      terminationGracePeriodSeconds: 1,
    });
    assert.equal(probeOf("b").livenessProbe!.terminationGracePeriodSeconds, 7);
    // Kubernetes refuses a probe-level grace on readiness probes.
    assert.equal(probeOf("a").readinessProbe!.terminationGracePeriodSeconds, undefined);
    // Default hang → SIGKILL budget, the arithmetic of docs/liveness.md.
    const l = probeOf("a").livenessProbe!;
    assert.equal(l.periodSeconds! * l.failureThreshold! + l.timeoutSeconds! + l.terminationGracePeriodSeconds!, 4);
  });

  it("gives every injected container a securityContext that passes the restricted standard", () => {
    const out = inject(template(), [plugin("kv")]);
    for (const c of out.spec!.initContainers!.slice(0, 2)) {
      assert.equal(c.securityContext!.readOnlyRootFilesystem, true);
      assert.equal(c.securityContext!.allowPrivilegeEscalation, false);
      assert.deepEqual(c.securityContext!.capabilities!.drop, ["ALL"]);
      assert.equal(c.securityContext!.runAsNonRoot, true);
      assert.equal(c.securityContext!.seccompProfile!.type, "RuntimeDefault");
    }
  });

  it("copies image, command (under the launcher), args, pull policy and resources", () => {
    const out = inject(template(), [
      plugin("kv", {
        command: ["/kv"],
        args: ["-v"],
        imagePullPolicy: "Never",
        resources: { limits: { memory: "64Mi" } },
      }),
    ]);
    const c = out.spec!.initContainers!.find((x) => x.name === "podplug-kv")!;
    assert.equal(c.image, "example/kv:1");
    assert.deepEqual([c.command, c.args, c.imagePullPolicy], [[LAUNCHER_BIN, "run", "--", "/kv"], ["-v"], "Never"]);
    assert.deepEqual(c.resources, { limits: { memory: "64Mi" } });
  });

  it("is idempotent and does not mutate its input", () => {
    const t = template();
    const before = structuredClone(t);
    const once = inject(t, [plugin("kv"), plugin("counter")]);
    assert.deepEqual(t, before);
    assert.deepEqual(inject(once, [plugin("kv"), plugin("counter")]), once);
  });

  it("spec.calls and spec.version: host containers get PODPLUG_PLUGIN_INFO for the Plugins that set them; idempotent, and removed with them", () => {
    const t = template();
    const withCalls = plugin("kv", {
      calls: { deadlineMilliseconds: 2000, whenUnavailable: "Wait" },
      version: "1.4.2",
    });
    const out = inject(t, [withCalls, plugin("counter")]);
    for (const c of out.spec!.containers) {
      const v = c.env?.find((e) => e.name === "PODPLUG_PLUGIN_INFO")?.value;
      assert.deepEqual(JSON.parse(v!), {
        kv: { version: "1.4.2", calls: { deadlineMs: 2000, whenUnavailable: "wait" } },
      });
    }
    assert.deepEqual(inject(out, [withCalls, plugin("counter")]), out);
    const without = inject(out, [plugin("kv"), plugin("counter")]);
    assert.ok(without.spec!.containers.every((c) => !c.env?.some((e) => e.name === "PODPLUG_PLUGIN_INFO")));
    assert.deepEqual(without, inject(t, [plugin("kv"), plugin("counter")]));
  });

  it("with no Plugins removes exactly what it added", () => {
    const t = template();
    assert.deepEqual(inject(inject(t, [plugin("kv")]), []), t);
    assert.deepEqual(inject(inject(t, [plugin("kv"), plugin("b")]), [plugin("b")]), inject(t, [plugin("b")]));
  });

  it("leaves a host container with the podplug- prefix alone when no sidecar takes its name", () => {
    const out = inject({ spec: { containers: [{ name: "podplug-proxy" }] } }, [plugin("kv")]);
    assert.deepEqual(
      out.spec!.containers.map((c) => c.name),
      ["podplug-proxy"],
    );
  });

  it("with scratch, gives each sidecar a writable emptyDir at /tmp and keeps the image's working directory", () => {
    const out = inject(template(), [plugin("kv"), plugin("big", { scratch: { sizeLimit: "1Gi" } })], { scratch: true });
    const kv = out.spec!.initContainers!.find((c) => c.name === "podplug-kv")!;
    assert.equal(kv.workingDir, undefined, "an image's command may be relative to its WORKDIR");
    assert.deepEqual(kv.volumeMounts!.slice(1, 2), [{ name: "podplug-tmp-kv", mountPath: "/tmp", subPath: "tmp" }]);
    const vols = Object.fromEntries(out.spec!.volumes!.map((v) => [v.name, v.emptyDir]));
    assert.deepEqual(vols["podplug-tmp-kv"], { sizeLimit: "64Mi" });
    assert.deepEqual(vols["podplug-tmp-big"], { sizeLimit: "1Gi" });
    // Without the option (the local runtime) nothing of it is added.
    const local = inject(template(), [plugin("kv")]);
    assert.equal(local.spec!.initContainers!.find((c) => c.name === "podplug-kv")!.workingDir, undefined);
    assert.ok(!local.spec!.volumes!.some((v) => v.name.startsWith("podplug-tmp-")));
  });

  it("adds a Plugin's own volumes (named podplug-<plugin>-<volume>), mounts and workingDir", () => {
    const p = plugin("kv", {
      workingDir: "/data",
      volumes: [
        { name: "data", emptyDir: { medium: "Memory" } },
        { name: "conf", configMap: { name: "kv-conf" } },
      ],
      volumeMounts: [
        { name: "data", mountPath: "/data" },
        { name: "conf", mountPath: "/etc/kv", readOnly: true },
      ],
    });
    const out = inject(template(), [p], { scratch: true });
    const kv = out.spec!.initContainers!.find((c) => c.name === "podplug-kv")!;
    assert.equal(kv.workingDir, "/data");
    assert.deepEqual(
      kv.volumeMounts!.map((m) => `${m.name}:${m.mountPath}${m.readOnly ? ":ro" : ""}`),
      [
        "podplug-sockets:/var/run/podplug/kv",
        "podplug-tmp-kv:/tmp",
        "podplug-kv-data:/data",
        "podplug-kv-conf:/etc/kv:ro",
        "podplug-bin:/podplug/bin:ro",
      ],
    );
    const vols = out.spec!.volumes!.map((v) => v.name);
    assert.deepEqual(vols, [
      "data",
      "podplug-sockets",
      "podplug-bin",
      "podplug-tmp-kv",
      "podplug-kv-data",
      "podplug-kv-conf",
    ]);
    assert.deepEqual(out.spec!.volumes!.find((v) => v.name === "podplug-kv-conf")!.configMap, { name: "kv-conf" });
    // Injecting again with the same Plugins gives the same template; with none, the workload's own.
    assert.deepEqual(inject(out, [p], { scratch: true }), out);
    assert.deepEqual(inject(out, [], { scratch: true }).spec!.volumes, template().spec!.volumes);
  });

  it("can leave out the launcher, and with it probes and host readiness", () => {
    const out = inject(template(), [plugin("kv", { command: ["kv"] })], { launcherImage: false });
    assert.deepEqual(
      out.spec!.initContainers!.map((c) => c.name),
      ["podplug-kv", "migrate"],
    );
    assert.equal(out.spec!.initContainers![0]!.livenessProbe, undefined);
    assert.deepEqual(out.spec!.initContainers![0]!.command, ["kv"]);
    assert.equal(out.spec!.containers[0]!.readinessProbe, undefined);
  });

  describe("AutoMTLS (options.autoMTLS, as the operator injects)", () => {
    it("gives the plugin PLUGIN_CLIENT_CERT from its Secret and mounts the host certificate into the hosts and the plugin's container (for its probe)", () => {
      const out = inject(template(), [plugin("kv", { autoMTLS: true }), plugin("plain")], { autoMTLS: true });
      const kv = out.spec!.initContainers!.find((x) => x.name === "podplug-kv")!;
      assert.deepEqual(
        kv.env!.find((e) => e.name === "PLUGIN_CLIENT_CERT"),
        {
          name: "PLUGIN_CLIENT_CERT",
          valueFrom: { secretKeyRef: { name: "podplug-kv-mtls", key: "tls.crt" } },
        },
      );
      assert.equal(
        out
          .spec!.initContainers!.find((x) => x.name === "podplug-plain")!
          .env!.some((e) => e.name === "PLUGIN_CLIENT_CERT"),
        false,
      );
      // The probe in the plugin's container checks health as the host does (docs/launcher.md weighs the key's mount).
      assert.deepEqual(
        kv.volumeMounts!.map((m) => m.name),
        [SOCKET_VOLUME, LAUNCHER_VOLUME, "podplug-mtls-kv"],
      );
      const plain = out.spec!.initContainers!.find((x) => x.name === "podplug-plain")!;
      assert.ok(!plain.volumeMounts!.some((m) => m.name.startsWith("podplug-mtls-")));
      assert.deepEqual(
        out.spec!.volumes!.find((v) => v.name === "podplug-mtls-kv"),
        { name: "podplug-mtls-kv", secret: { secretName: "podplug-kv-mtls", defaultMode: 0o444 } },
      );
      for (const c of [...out.spec!.containers, kv]) {
        assert.ok(
          c.volumeMounts!.some(
            (m) => m.name === "podplug-mtls-kv" && m.mountPath === "/var/run/podplug-mtls/kv" && m.readOnly,
          ),
          c.name,
        );
        assert.equal(c.env!.find((e) => e.name === "PODPLUG_MTLS_ROOT")?.value, "/var/run/podplug-mtls", c.name);
      }
    });

    it("stays idempotent and is removed with the Plugin", () => {
      const t = template();
      const once = inject(t, [plugin("kv", { autoMTLS: true })], { autoMTLS: true });
      assert.deepEqual(inject(once, [plugin("kv", { autoMTLS: true })], { autoMTLS: true }), once);
      assert.deepEqual(inject(once, [], { autoMTLS: true }), t);
    });

    it("without the option (the local runtime) injects no Secret references", () => {
      const out = inject(template(), [plugin("kv", { autoMTLS: true })]);
      assert.ok(!JSON.stringify(out).includes("podplug-kv-mtls"));
    });
  });

  describe("bad input", () => {
    const cases: [string, () => unknown, string, RegExp][] = [
      [
        "a template without containers",
        () => inject({ spec: undefined }, [plugin("kv")]),
        "INJECT_INVALID_TEMPLATE",
        /no containers/,
      ],
      [
        "a non-object template",
        () => inject(null as unknown as V1PodTemplateSpec, []),
        "INJECT_INVALID_TEMPLATE",
        /template\.spec\.containers/,
      ],
      [
        "the same Plugin twice",
        () => inject(template(), [plugin("kv"), plugin("kv")]),
        "INJECT_DUPLICATE_PLUGIN",
        /kv is given twice/,
      ],
      ["a name with dots", () => inject(template(), [plugin("a.b")]), "INJECT_INVALID_PLUGIN", /metadata\.name/],
      [
        "the reserved name launcher",
        () => inject(template(), [plugin("launcher")]),
        "INJECT_INVALID_PLUGIN",
        /not "launcher", "bin", "agent"/,
      ],
      ["the reserved name bin", () => inject(template(), [plugin("bin")]), "INJECT_INVALID_PLUGIN", /not "launcher"/],
      [
        "a hostReadiness that is no boolean",
        () => inject(template(), [plugin("kv", { hostReadiness: "no" as unknown as boolean })]),
        "INJECT_INVALID_PLUGIN",
        /hostReadiness must be true or false, not "no"/,
      ],
      [
        "a default call deadline of 0 ms",
        () => inject(template(), [plugin("kv", { calls: { deadlineMilliseconds: 0 } })]),
        "INJECT_INVALID_PLUGIN",
        /deadlineMilliseconds must be a whole number of milliseconds from 1 to 3600000, not 0/,
      ],
      [
        "a default call deadline in seconds as a string",
        () => inject(template(), [plugin("kv", { calls: { deadlineMilliseconds: "2s" as unknown as number } })]),
        "INJECT_INVALID_PLUGIN",
        /not "2s"/,
      ],
      [
        "a version that is not semver",
        () => inject(template(), [plugin("kv", { version: "v1.2" })]),
        "INJECT_INVALID_PLUGIN",
        /spec\.version "v1\.2" is not a semantic version/,
      ],
      [
        "an unknown whenUnavailable",
        () => inject(template(), [plugin("kv", { calls: { whenUnavailable: "Retry" as "Wait" } })]),
        "INJECT_INVALID_PLUGIN",
        /whenUnavailable must be FailFast or Wait, not "Retry"/,
      ],
      [
        "calls that are no object",
        () => inject(template(), [plugin("kv", { calls: [] as unknown as Plugin["spec"]["calls"] })]),
        "INJECT_INVALID_PLUGIN",
        /spec\.calls must be an object/,
      ],
      ["no image", () => inject(template(), [plugin("kv", { image: "" })]), "INJECT_INVALID_PLUGIN", /spec\.image/],
      [
        "a cookie key that is no env name",
        () =>
          inject(template(), [
            plugin("kv", { handshake: { magicCookieKey: "1 X", magicCookieValue: "v", protocolVersions: [1] } }),
          ]),
        "INJECT_INVALID_PLUGIN",
        /magicCookieKey/,
      ],
      [
        "an empty cookie value",
        () =>
          inject(template(), [
            plugin("kv", { handshake: { magicCookieKey: "K", magicCookieValue: "", protocolVersions: [1] } }),
          ]),
        "INJECT_INVALID_PLUGIN",
        /magicCookieValue/,
      ],
      [
        "no protocol version",
        () =>
          inject(template(), [
            plugin("kv", { handshake: { magicCookieKey: "K", magicCookieValue: "v", protocolVersions: [] } }),
          ]),
        "INJECT_INVALID_PLUGIN",
        /protocolVersions/,
      ],
      [
        "a zero probe-level grace",
        () => inject(template(), [plugin("kv", { probes: { liveness: { terminationGracePeriodSeconds: 0 } } })]),
        "INJECT_INVALID_PLUGIN",
        /spec\.probes\.liveness\.terminationGracePeriodSeconds: plugin kv: probes\.liveness\.terminationGracePeriodSeconds must be an integer from 1 to 3600, not 0/,
      ],
      [
        "a probe number that is no integer",
        () =>
          inject(template(), [plugin("kv", { probes: { readiness: { periodSeconds: "5" as unknown as number } } })]),
        "INJECT_INVALID_PLUGIN",
        /probes\.readiness\.periodSeconds must be an integer from 1 to 3600, not "5"/,
      ],
      [
        "a probe-level grace on readiness (Kubernetes refuses it)",
        () =>
          inject(template(), [
            plugin("kv", { probes: { readiness: { terminationGracePeriodSeconds: 1 } as Record<string, number> } }),
          ]),
        "INJECT_INVALID_PLUGIN",
        /probes\.readiness has no field terminationGracePeriodSeconds/,
      ],
      [
        "a reserved env name",
        () => inject(template(), [plugin("kv", { env: [{ name: "PLUGIN_X", value: "1" }] })]),
        "INJECT_INVALID_PLUGIN",
        /reserved/,
      ],
      [
        "a host container named like a sidecar",
        () => inject({ spec: { containers: [{ name: "podplug-kv" }] } }, [plugin("kv")]),
        "INJECT_NAME_CONFLICT",
        /podplug-kv has the name of a sidecar podplug injects .*rename it/,
      ],
      [
        "a volume mount of a volume it does not have",
        () => inject(template(), [plugin("kv", { volumeMounts: [{ name: "nope", mountPath: "/x" }] })]),
        "INJECT_INVALID_PLUGIN",
        /spec\.volumeMounts: plugin kv: mount "nope" needs the name of one of spec\.volumes/,
      ],
      [
        "a volume name too long for the pod",
        () => inject(template(), [plugin("kv", { volumes: [{ name: "v".repeat(60), emptyDir: {} }] })]),
        "INJECT_INVALID_PLUGIN",
        /spec\.volumes: plugin kv: volume "v+" needs a DNS-1123 name short enough/,
      ],
      [
        "a relative workingDir",
        () => inject(template(), [plugin("kv", { workingDir: "work" })]),
        "INJECT_INVALID_PLUGIN",
        /spec\.workingDir: plugin kv: workingDir must be an absolute path/,
      ],
      [
        "two Plugins whose volumes would share a pod volume name",
        () =>
          inject(template(), [plugin("tmp", { volumes: [{ name: "b", emptyDir: {} }] }), plugin("b")], {
            scratch: true,
          }),
        "INJECT_NAME_CONFLICT",
        /two volumes of the pod would be named podplug-tmp-b/,
      ],
      [
        "a host container named like the launcher init container",
        () => inject({ spec: { containers: [{ name: "podplug-launcher" }] } }, [plugin("kv")]),
        "INJECT_NAME_CONFLICT",
        /podplug-launcher/,
      ],
    ];
    for (const [what, fn, code, msg] of cases) {
      it(`refuses ${what} with ${code}`, () => {
        assert.throws(fn, (err: unknown) => {
          assert.equal((err as { code?: string }).code, code);
          assert.match((err as Error).message, msg);
          return true;
        });
      });
    }
  });
});

// Sockets across users (issue 19): PLUGIN_UNIX_SOCKET_GROUP from the pod's fsGroup.
const withFsGroup = (fsGroup?: number): V1PodTemplateSpec => {
  const t = template();
  if (fsGroup !== undefined) t.spec!.securityContext = { fsGroup };
  return t;
};

const groupEnv = (t: V1PodTemplateSpec, name = "kv"): string[] =>
  t
    .spec!.initContainers!.find((c) => c.name === `podplug-${name}`)!
    .env!.filter((e) => e.name === PLUGIN_ENV.unixSocketGroup)
    .map((e) => e.value!);

describe("inject: the sockets' group", () => {
  it("sets PLUGIN_UNIX_SOCKET_GROUP to the pod's fsGroup on every plugin", () => {
    const out = inject(withFsGroup(2000), [plugin("kv"), plugin("counter")]);
    assert.deepEqual(groupEnv(out), ["2000"]);
    assert.deepEqual(groupEnv(out, "counter"), ["2000"]);
  });

  it("sets none without an fsGroup (one uid for the pod, or the Plugin's own)", () => {
    assert.deepEqual(groupEnv(inject(withFsGroup(), [plugin("kv")])), []);
  });

  it("accepts PLUGIN_UNIX_SOCKET_GROUP in a Plugin's env (the documented override) and keeps it the only one", () => {
    const out = inject(withFsGroup(2000), [
      plugin("kv", { env: [{ name: PLUGIN_ENV.unixSocketGroup, value: "3000" }] }),
    ]);
    assert.deepEqual(groupEnv(out), ["3000"]);
  });

  it("still refuses the other PLUGIN_ names", () => {
    assert.throws(
      () => inject(withFsGroup(2000), [plugin("kv", { env: [{ name: PLUGIN_ENV.unixSocketDir, value: "/x" }] })]),
      {
        code: "INJECT_INVALID_PLUGIN",
      },
    );
  });

  it("stays idempotent", () => {
    const once = inject(withFsGroup(2000), [plugin("kv")]);
    assert.deepEqual(inject(once, [plugin("kv")]), once);
  });
});
