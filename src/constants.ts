/**
 * The catalogue of names the parts of podplug share, after go-plugin's
 * constants.go: environment variables (go-plugin's own, podplug's on the
 * plugin side, on the host side, and the operator switches),
 * file names in a plugin's socket folder, the health service name and the
 * TLS file names of a host certificate. Every part reads them from here, so a
 * name is spelled once. Neutral: imports nothing. docs/architecture.md lists
 * what each means in a pod; the pod layout built from them (paths, volume and
 * container names) is src/inject/conventions.ts.
 */

/** go-plugin's environment, host → plugin: exactly the names go-plugin's client sets and its server reads. */
export const PLUGIN_ENV = {
  /** The host's application protocol versions, joined by `,`. */
  protocolVersions: "PLUGIN_PROTOCOL_VERSIONS",
  /** `true` when the host wants broker multiplexing (podplug answers `false`). */
  multiplexGRPC: "PLUGIN_MULTIPLEX_GRPC",
  /** The host's AutoMTLS certificate, PEM. */
  clientCert: "PLUGIN_CLIENT_CERT",
  /** Where the plugin creates its sockets. */
  unixSocketDir: "PLUGIN_UNIX_SOCKET_DIR",
  /** The group that owns the plugin's sockets. */
  unixSocketGroup: "PLUGIN_UNIX_SOCKET_GROUP",
  /** TCP port range (go-plugin uses it on Windows only; podplug passes go-plugin's defaults). */
  minPort: "PLUGIN_MIN_PORT",
  maxPort: "PLUGIN_MAX_PORT",
} as const;

/** podplug's additions on the plugin side, set by the operator or the local runtime. */
export const SIDECAR_ENV = {
  /** Where a plugin in sidecar mode writes its handshake line; its presence selects sidecar mode. */
  handshakeFile: "PODPLUG_HANDSHAKE_FILE",
  /** The plugin's name (the Plugin object's), for logs. */
  pluginName: "PODPLUG_PLUGIN_NAME",
  /** hclog level of a TypeScript plugin's logger; overrides `serve({ logLevel })`. */
  logLevel: "PODPLUG_LOG_LEVEL",
  /** The file podplug-launcher watches: a change of its content stops the plugin for the kubelet to restart (a reload). */
  reloadFile: "PODPLUG_RELOAD_FILE",
} as const;

/**
 * Where a plugin container that stops on a contract error writes its one line
 * `<CODE>: <sentence>`: the file this variable names, else
 * {@link TERMINATION_LOG_PATH} when it exists.
 */
export const TERMINATION_LOG_ENV = "PODPLUG_TERMINATION_LOG";
/** The kubelet's default terminationMessagePath. */
export const TERMINATION_LOG_PATH = "/dev/termination-log";

/** The host side of an injected pod (host containers; PODPLUG_MTLS_ROOT also in an AutoMTLS plugin's, for its probe). */
export const HOST_ENV = {
  /** The socket volume's mount point: plugin `<name>` serves in `<root>/<name>`. */
  socketRoot: "PODPLUG_SOCKET_ROOT",
  /** The pod's plugins, sorted, joined by `,`. */
  plugins: "PODPLUG_PLUGINS",
  /** Where AutoMTLS host certificates are mounted: `<root>/<name>/tls.crt`, `tls.key`. Set only with AutoMTLS. */
  mtlsRoot: "PODPLUG_MTLS_ROOT",
  /**
   * The Plugins' `spec.version` and `spec.calls`, JSON
   * `{"<plugin>":{"version":"1.4.2","calls":{"deadlineMs":2000,"whenUnavailable":"wait"}}}`, for the host
   * SDK (sidecarAttach()). Set only when a Plugin of the pod sets either.
   */
  pluginInfo: "PODPLUG_PLUGIN_INFO",
  /**
   * The pod's plugins with a standby sidecar (`spec.standby`), sorted, joined by `,`: each also serves in
   * `<root>/<name>-standby`, and sidecarAttach() attaches to both. Set only when a Plugin of the pod has one.
   */
  standby: "PODPLUG_STANDBY",
} as const;

/** A Plugin with `spec.standby` gets a second sidecar and socket folder named `<name>` + this. */
export const STANDBY_SUFFIX = "-standby";

/** Switches for operators of either side: which gRPC implementation and which HTTP/2 engine carry calls. */
export const TRANSPORT_ENV = {
  /** `grpc-js` switches both sides to grpc-js; anything else keeps podplug's transport. */
  transport: "PODPLUG_TRANSPORT",
  /** `node-http2` runs podplug's transport on node:http2 instead of podplug's own HTTP/2 engine. */
  http2Engine: "PODPLUG_HTTP2_ENGINE",
  /** Largest message a host (or a broker client) accepts from a plugin, in bytes; default 4 MiB. */
  maxReceiveMessageBytes: "PODPLUG_MAX_RECEIVE_MESSAGE_BYTES",
} as const;

/** The longest default call deadline a Plugin's spec.calls may set: an hour. */
export const MAX_CALL_DEADLINE_MS = 3_600_000;

/** The fixed socket name of a TypeScript plugin in sidecar mode. */
export const SIDECAR_SOCKET_NAME = "plugin.sock";
/** The handshake file's name in a plugin's socket folder. */
export const HANDSHAKE_FILE_NAME = "handshake";
/** The host's connection state to the plugin, in its socket folder (what `podplug-launcher ready` reads). */
export const HOST_STATE_FILE_NAME = "host-state.json";
/** How go-plugin names its sockets (`os.CreateTemp(dir, "plugin")`); readers look for this prefix. */
export const PLUGIN_SOCKET_PREFIX = "plugin";

/** The health service go-plugin registers as SERVING, and hosts and probes check. */
export const PLUGIN_HEALTH_SERVICE = "plugin";

/** A host certificate's files in its folder (and keys in its kubernetes.io/tls Secret). */
export const TLS_CERT_FILE = "tls.crt";
export const TLS_KEY_FILE = "tls.key";
