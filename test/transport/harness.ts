/**
 * Test plumbing for the transport: echo servers in their own processes
 * (grpc-js or PodplugServer), clients on either channel, promisified calls.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import type { CertificatePair } from "../../src/protocol/mtls.ts";
import { generateCertificate } from "../../src/protocol/self-signed.ts";
import { PodplugChannel } from "../../src/transport/channel.ts";
import { NODE, ROOT, tempDir } from "../helpers.ts";
import { EchoClient, type EchoClientInstance, type EchoMessage } from "./fixtures/echo.ts";

/** Which implementation plays a side: podplug's transport on its own HTTP/2 engine or on node:http2, or grpc-js. */
export type Impl = "podplug" | "podplug-node" | "grpcjs";
/** The same, for clients. */
export type ClientImpl = Impl;

/** Every client kind against every server kind; grpc-js against itself is the reference behaviour. */
export const PAIRS: readonly [ClientImpl, Impl][] = [
  ["podplug", "grpcjs"],
  ["podplug-node", "grpcjs"],
  ["podplug-node", "podplug"],
  ["grpcjs", "podplug-node"],
  ["podplug", "podplug-node"],
  ["grpcjs", "podplug"],
  ["podplug", "podplug"],
  ["grpcjs", "grpcjs"],
];

/** A running echo server process. */
export interface ServerProcess {
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Starts the echo server (fixtures/server.ts) and waits for "ready". */
export async function startServer(kind: Impl, socket: string, tlsDir?: string): Promise<ServerProcess> {
  const args = [join(ROOT, "test/transport/fixtures/server.ts"), kind, socket];
  if (tlsDir) args.push(tlsDir);
  const proc = spawn(NODE, args, { stdio: ["pipe", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.once("line", (l) => (l === "ready" ? resolve() : reject(new Error(`server said ${l}`))));
    proc.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
  return {
    proc,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once("exit", () => resolve());
        proc.kill("SIGKILL");
      }),
  };
}

/** Where a suite's server listens; filled in by {@link useServer}'s before() hook. */
export interface ServerFixture {
  socket: string;
  /** Present when the server runs TLS. */
  certs?: TlsFiles;
}

/** Mocha hooks that run an echo server (own temp folder) for the enclosing describe(). */
export function useServer(kind: Impl, tls = false): ServerFixture {
  const fx: ServerFixture = { socket: "" };
  let tmp: ReturnType<typeof tempDir> | undefined;
  let server: ServerProcess | undefined;
  before(async () => {
    tmp = tempDir("ptx-");
    fx.socket = join(tmp.dir, "s.sock");
    if (tls) fx.certs = await makeTls(tmp.dir);
    server = await startServer(kind, fx.socket, tls ? tmp.dir : undefined);
  });
  after(async () => {
    await server?.stop();
    tmp?.remove();
  });
  return fx;
}

/** Certificates for mutual TLS tests, written to `dir` as the server process reads them. */
export interface TlsFiles {
  server: CertificatePair;
  client: CertificatePair;
  /** A client certificate the server does not trust. */
  stranger: CertificatePair;
}

/** Makes AutoMTLS-style certificates and writes server.crt/server.key/client.crt to `dir`. */
export async function makeTls(dir: string): Promise<TlsFiles> {
  const [server, client, stranger] = await Promise.all([
    generateCertificate(),
    generateCertificate(),
    generateCertificate(),
  ]);
  writeFileSync(join(dir, "server.crt"), server.certPem);
  writeFileSync(join(dir, "server.key"), server.keyPem);
  writeFileSync(join(dir, "client.crt"), client.certPem);
  return { server, client, stranger };
}

/** Client options of one test client. */
export interface ClientOpts {
  tls?: { ca: string; own: CertificatePair };
  maxReceive?: number;
}

/** The channel under test. */
export function makeChannel(kind: ClientImpl, socket: string, o: ClientOpts = {}): grpc.ChannelInterface {
  if (kind !== "grpcjs") {
    return new PodplugChannel(`unix://${socket}`, {
      engine: kind === "podplug-node" ? "node-http2" : "podplug",
      tls: o.tls ? { ca: o.tls.ca, key: o.tls.own.keyPem, cert: o.tls.own.certPem } : undefined,
      maxReceiveMessageLength: o.maxReceive,
    });
  }
  const creds = o.tls
    ? grpc.credentials.createSsl(Buffer.from(o.tls.ca), Buffer.from(o.tls.own.keyPem), Buffer.from(o.tls.own.certPem))
    : grpc.credentials.createInsecure();
  const opts: grpc.ChannelOptions = { "grpc.max_receive_message_length": o.maxReceive ?? 4 * 1024 * 1024 };
  // AutoMTLS certificates name `localhost`; a socket path is no host name.
  if (o.tls) opts["grpc.ssl_target_name_override"] = "localhost";
  return new grpc.Channel(`unix://${socket}`, creds, opts);
}

/** An echo client on the channel under test. */
export function makeClient(kind: ClientImpl, socket: string, o: ClientOpts = {}): EchoClientInstance {
  return new EchoClient("unused", grpc.credentials.createInsecure(), { channelOverride: makeChannel(kind, socket, o) });
}

type UnaryFn = (
  req: EchoMessage,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: EchoMessage) => void,
) => grpc.ClientUnaryCall;

/** A unary call's outcome: the response, or the error; plus the metadata seen. */
export interface UnaryOutcome {
  res?: EchoMessage;
  err?: grpc.ServiceError;
  headers?: grpc.Metadata;
  status?: grpc.StatusObject;
}

/** Calls a unary method and resolves with everything observed (never rejects). */
export function unary(
  client: EchoClientInstance,
  name: "unary" | "stats" | "missing",
  req: EchoMessage,
  md = new grpc.Metadata(),
  opts: grpc.CallOptions = {},
): Promise<UnaryOutcome> {
  return new Promise((resolve) => {
    const out: UnaryOutcome = {};
    let pending = 2;
    const done = (): void => {
      if (--pending === 0) resolve(out);
    };
    const fn = (client as unknown as Record<string, UnaryFn>)[name]!.bind(client);
    const call = fn(req, md, opts, (err, res) => {
      if (err) out.err = err;
      else out.res = res;
      done();
    });
    call.on("metadata", (m: grpc.Metadata) => (out.headers = m));
    call.on("status", (s: grpc.StatusObject) => {
      out.status = s;
      done();
    });
  });
}

/** Reads a stream until it ends or fails. */
export function collect(
  stream: grpc.ClientReadableStream<EchoMessage> | grpc.ClientDuplexStream<EchoMessage, EchoMessage>,
): Promise<{ msgs: EchoMessage[]; err?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const msgs: EchoMessage[] = [];
    stream.on("data", (m: EchoMessage) => msgs.push(m));
    stream.on("error", (err: grpc.ServiceError) => resolve({ msgs, err }));
    stream.on("end", () => resolve({ msgs }));
  });
}
