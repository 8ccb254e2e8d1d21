/**
 * Webhook mode's parts in one place, for operator/main.ts: every replica
 * watches the Plugins and serves the injection webhook with the shared TLS
 * material (synced and rotated by each replica); the leader also runs the
 * watchdog. See docs/injection-modes.md.
 */
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { RELOAD_ANNOTATION } from "../../src/inject/conventions.ts";
import { PLUGIN_GROUP, PLUGIN_VERSION, type Plugin } from "../../src/inject/types.ts";
import type { KubeClient } from "../client.ts";
import type { EventRecorder } from "../events.ts";
import { digestRefusal } from "../image-digest.ts";
import { Watcher } from "../watcher.ts";
import { Reloader, reloadToken } from "./reload.ts";
import { startWebhookServer, type WebhookServer } from "./server.ts";
import { WebhookTls, type WebhookTlsOptions } from "./tls.ts";
import { Upgrader } from "./upgrade.ts";
import { Watchdog } from "./watchdog.ts";

/** Settings of webhook mode (from the operator's flags). */
export interface WebhookOptions {
  host: string;
  port: number;
  namespaces: string[];
  launcherImage: string;
  maxRequestBytes: number;
  tls: WebhookTlsOptions;
  watchdogPeriodMs: number;
  /** Pods whose new sidecar may be not ready at once during an in-place upgrade; 0: no in-place upgrades. */
  upgradeMaxInFlight: number;
  upgradeProgressDeadlineMs: number;
  /** Inject only Plugins whose spec.image pins a digest. */
  requireImageDigests?: boolean;
}

/** The running webhook of one replica. */
export class InjectionWebhook {
  private readonly client: KubeClient;
  private readonly opts: WebhookOptions;
  private readonly log: Logger;
  private readonly watchers: Watcher<Plugin>[] = [];
  private readonly tls: WebhookTls;
  private server: WebhookServer | undefined;
  private watchdog: Watchdog | undefined;
  private registry: Registry | undefined;
  private listed = false;

  constructor(client: KubeClient, opts: WebhookOptions, log: Logger) {
    this.client = client;
    this.opts = opts;
    this.log = log.child({ part: "webhook" });
    const scopes: (string | undefined)[] = opts.namespaces.length > 0 ? opts.namespaces : [undefined];
    for (const ns of scopes)
      this.watchers.push(
        new Watcher<Plugin>(
          client,
          `/apis/${PLUGIN_GROUP}/${PLUGIN_VERSION}${ns ? `/namespaces/${ns}` : ""}/plugins`,
          this.log,
          // A Plugin change (its image) is looked at at once, not at the next period.
          (_k, next, prev) => {
            if (next?.metadata.generation !== prev?.metadata.generation) this.watchdog?.poke();
            else if (next && reloadToken(next) !== (prev && reloadToken(prev))) this.watchdog?.poke();
          },
          {
            // Of the annotations only the reload's is read (operator/webhook/reload.ts).
            transform: ({ metadata: { managedFields: _m, annotations, ...metadata }, ...p }) => {
              const reload = annotations?.[RELOAD_ANNOTATION];
              return {
                ...p,
                metadata:
                  reload === undefined ? metadata : { ...metadata, annotations: { [RELOAD_ANNOTATION]: reload } },
              };
            },
          },
        ),
      );
    this.tls = new WebhookTls(client, opts.tls, this.log);
  }

  /** Every Plugin known that may be injected (the digest policy refuses some; their status says why), read-only. */
  *plugins(): Iterable<Readonly<Plugin>> {
    const require = this.opts.requireImageDigests ?? false;
    for (const w of this.watchers) for (const p of w.store.list()) if (!digestRefusal(p, require)) yield p;
  }

  /** True once every Plugin watch has listed: before that the webhook answers 503. */
  ready(): boolean {
    return this.listed;
  }

  /** The bound port (after start). */
  get port(): number {
    return this.server?.port ?? 0;
  }

  /** Syncs the TLS material, starts the watches and the server; resolves once it listens. */
  async start(registry: Registry): Promise<void> {
    this.registry = registry;
    const material = await this.tls.sync();
    for (const w of this.watchers) w.start();
    void Promise.all(this.watchers.map((w) => w.synced)).then(() => {
      this.listed = true;
      this.log.info("webhook: Plugins listed, injecting");
    });
    this.server = await startWebhookServer(
      {
        host: this.opts.host,
        port: this.opts.port,
        maxRequestBytes: this.opts.maxRequestBytes,
        launcherImage: this.opts.launcherImage,
        plugins: () => this.plugins(),
        ready: () => this.ready(),
        registry,
        log: this.log,
      },
      material,
    );
    this.tls.start((m) => {
      this.server?.setCertificate(m);
      this.log.info("webhook: serving the renewed certificate");
    });
    this.log.info({ address: `${this.opts.host}:${this.server.port}` }, "webhook listening");
  }

  /** The leader's part: the watchdog of Pods without their sidecar. */
  startWatchdog(events: EventRecorder): void {
    this.watchdog ??= new Watchdog({
      client: this.client,
      events,
      log: this.log,
      plugins: () => this.plugins(),
      periodMs: this.opts.watchdogPeriodMs,
      registry: this.registry,
      upgrader:
        this.opts.upgradeMaxInFlight > 0
          ? new Upgrader({
              client: this.client,
              events,
              log: this.log,
              maxInFlight: this.opts.upgradeMaxInFlight,
              progressDeadlineMs: this.opts.upgradeProgressDeadlineMs,
            })
          : undefined,
      // Reloads patch Pods as upgrades do (the same RBAC, the same pacing): off with them.
      reloader:
        this.opts.upgradeMaxInFlight > 0
          ? new Reloader({
              client: this.client,
              events,
              log: this.log,
              maxInFlight: this.opts.upgradeMaxInFlight,
              progressDeadlineMs: this.opts.upgradeProgressDeadlineMs,
            })
          : undefined,
    });
    this.watchdog.start();
  }

  async stop(): Promise<void> {
    this.tls.stop();
    for (const w of this.watchers) w.stop();
    await this.watchdog?.stop();
    await this.server?.close();
  }
}
