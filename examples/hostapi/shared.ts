/**
 * A host API through the broker (goatkit's HostAPI, chainlink LOOP's host
 * services): for each report the host serves three services — its cache,
 * its database and calls into its other plugins — under ONE broker id, and
 * the plugin reaches all three over the one connection it dials for that id.
 */
import * as grpc from "@grpc/grpc-js";
import {
  type CacheGetRequest,
  type CacheGetResponse,
  HostCacheClient,
  type HostCacheServer,
  HostCacheService,
  HostDBClient,
  type HostDBServer,
  HostDBService,
  HostPluginsClient,
  type HostPluginsServer,
  HostPluginsService,
  type PluginCallRequest,
  type PluginCallResponse,
  type QueryRequest,
  type QueryResponse,
  ReporterClient,
  type ReporterServer,
  ReporterService,
  type ReportRequest,
  type ReportResponse,
  type Row,
} from "../../src/gen/examples/hostapi/hostapi.ts";
import type { GRPCPlugin, HandshakeConfig } from "../../src/host/index.ts";

export const handshake: HandshakeConfig = {
  protocolVersion: 1,
  magicCookieKey: "HOSTAPI_PLUGIN",
  magicCookieValue: "reporter",
};

/** What the host offers its plugins. A missing thing is an Error with `code: grpc.status.NOT_FOUND`. */
export interface HostApi {
  cacheGet(key: string): Promise<Buffer | undefined>;
  query(table: string, prefix: string): Promise<Row[]>;
  /** kv Get on the host's other plugin `plugin`: the host proxies the call. */
  pluginGet(plugin: string, key: string): Promise<Buffer>;
}

/** What a report asks for. */
export interface ReportQuery {
  cacheKey: string;
  table: string;
  plugin: string;
  pluginKey: string;
}

/** The plugin's service, as the host programs against it. */
export interface Reporter {
  report(q: ReportQuery, host: HostApi): Promise<string>;
}

/** A gRPC error carrying a status code, for the host's implementations. */
export function notFound(message: string): Error & { code: grpc.status } {
  return Object.assign(new Error(message), { code: grpc.status.NOT_FOUND });
}

type Cb<T> = (err: Partial<grpc.ServiceError> | null, res?: T) => void;
function answer<T>(p: Promise<T>, cb: Cb<T>): void {
  p.then(
    (r) => cb(null, r),
    (err: Error & { code?: grpc.status }) => cb({ code: err.code ?? grpc.status.UNKNOWN, details: err.message }),
  );
}

function unary<Req, Res>(
  call: (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => call(req, (err, res) => (err ? reject(err) : resolve(res))));
}

/** The plugin-map entry; `impl` on the plugin side. */
export function reporterPlugin(impl?: Reporter): GRPCPlugin<Reporter> {
  return {
    grpcServer: (broker, server) => {
      if (!impl) throw new Error("reporterPlugin: no implementation to serve");
      const svc: ReporterServer = {
        report: (call, cb) =>
          answer(
            (async () => {
              // One dial for the id: the three host services share this connection.
              const channel = await broker.dial(call.request.hostApi);
              const opts = { channelOverride: channel };
              const creds = grpc.credentials.createInsecure();
              const cache = new HostCacheClient("unused", creds, opts);
              const db = new HostDBClient("unused", creds, opts);
              const plugins = new HostPluginsClient("unused", creds, opts);
              try {
                const host: HostApi = {
                  cacheGet: async (key) => {
                    const r = await unary<CacheGetRequest, CacheGetResponse>(cache.get.bind(cache), { key });
                    return r.found ? r.value : undefined;
                  },
                  query: async (table, prefix) =>
                    (await unary<QueryRequest, QueryResponse>(db.query.bind(db), { table, prefix })).rows,
                  pluginGet: async (plugin, key) =>
                    (await unary<PluginCallRequest, PluginCallResponse>(plugins.get.bind(plugins), { plugin, key }))
                      .value,
                };
                const { cacheKey, table, plugin, pluginKey } = call.request;
                return { text: await impl.report({ cacheKey, table, plugin, pluginKey }, host) };
              } finally {
                channel.close();
              }
            })(),
            cb,
          ),
      };
      server.addService(ReporterService, svc);
    },
    grpcClient: (broker, conn) => {
      const c = conn.client(ReporterClient);
      return {
        report: async (q, host) => {
          // Serve the host API for the length of the call, all three services under one id.
          const id = broker.nextId();
          const cache: HostCacheServer = {
            get: (call, cb) =>
              answer(
                host.cacheGet(call.request.key).then((v) => ({ found: v !== undefined, value: v ?? Buffer.alloc(0) })),
                cb,
              ),
          };
          const db: HostDBServer = {
            query: (call, cb) =>
              answer(
                host.query(call.request.table, call.request.prefix).then((rows) => ({ rows })),
                cb,
              ),
          };
          const plugins: HostPluginsServer = {
            get: (call, cb) =>
              answer(
                host.pluginGet(call.request.plugin, call.request.key).then((value) => ({ value })),
                cb,
              ),
          };
          const served = await broker.acceptAndServe(id, (s) => {
            s.addService(HostCacheService, cache);
            s.addService(HostDBService, db);
            s.addService(HostPluginsService, plugins);
          });
          try {
            const r = await unary<ReportRequest, ReportResponse>(c.report.bind(c), { hostApi: id, ...q });
            return r.text;
          } finally {
            served.close();
          }
        },
      };
    },
  };
}
