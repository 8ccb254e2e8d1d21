/**
 * Manifests the `podplug run` tests write: the test plugin as Plugin `kv`,
 * and an idle host selected by its `app` label. One spelling, so a change to
 * the Plugin contract changes every test's input at once.
 */

/** Plugin `kv` running test/fixtures/test-plugin.ts, selecting pods labelled app=`app`; `extra` spec lines are indented in. */
export function testPluginYaml(app: string, o: { versions?: number[]; extra?: string[] } = {}): string {
  return `apiVersion: podplug.io/v1alpha1
kind: Plugin
metadata: {name: kv}
spec:
  image: example/kv:1
  command: [node, test/fixtures/test-plugin.ts]
${(o.extra ?? []).map((l) => `  ${l}\n`).join("")}  handshake: {magicCookieKey: BASIC_PLUGIN, magicCookieValue: hello, protocolVersions: [${(o.versions ?? [1]).join(", ")}]}
  selector: {matchLabels: {app: ${app}}}
`;
}

/** A bare Pod `name` (label app=`name`) whose host container only idles. */
export function idlePodYaml(name: string): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {app: ${name}}}
spec:
  containers:
    - {name: host, image: example/host:1, command: [node, -e, "setInterval(() => {}, 1000)"]}
`;
}
