/**
 * Mutual TLS (go-plugin's AutoMTLS shape: each side trusts exactly the
 * other's self-signed certificate, ALPN h2, name `localhost`) between the
 * podplug's transport and grpc-js, both ways; certificates the server did not get
 * are refused.
 */
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { PodplugChannel } from "../../src/transport/channel.ts";
import { EchoClient, type EchoMessage } from "./fixtures/echo.ts";
import { collect, makeClient, PAIRS, unary, useServer } from "./harness.ts";

for (const [clientKind, serverKind] of PAIRS.filter(([c, s]) => c !== "grpcjs" || s !== "grpcjs")) {
  describe(`transport TLS: ${clientKind} client -> ${serverKind} server`, () => {
    const fx = useServer(serverKind, true);

    it("the trusted client certificate gets unary and bidi calls through", async () => {
      const client = makeClient(clientKind, fx.socket, {
        tls: { ca: fx.certs!.server.certPem, own: fx.certs!.client },
      });
      try {
        const o = await unary(client, "unary", { text: "secure" });
        assert.equal(o.res?.text, "secure");
        const call = client.bidi();
        const p = collect(call);
        call.write({ text: "a", i: 0 } satisfies EchoMessage);
        call.end();
        assert.deepEqual(
          (await p).msgs.map((m) => m.text),
          ["echo:a"],
        );
      } finally {
        client.close();
      }
    });

    it("a client certificate the server does not trust is refused", async () => {
      const client = makeClient(clientKind, fx.socket, {
        tls: { ca: fx.certs!.server.certPem, own: fx.certs!.stranger },
      });
      try {
        const o = await unary(client, "unary", { text: "rogue" }, new grpc.Metadata(), {
          deadline: Date.now() + 10_000,
        });
        assert.equal(o.res, undefined);
        assert.equal(o.err?.code, grpc.status.UNAVAILABLE, o.err?.message);
      } finally {
        client.close();
      }
    });

    if (clientKind !== "grpcjs") {
      it("a server certificate the client does not trust is refused", async () => {
        const client = makeClient(clientKind, fx.socket, {
          tls: { ca: fx.certs!.stranger.certPem, own: fx.certs!.client },
        });
        try {
          const o = await unary(client, "unary", { text: "mitm" });
          assert.equal(o.err?.code, grpc.status.UNAVAILABLE);
          assert.match(o.err!.details, /certificate|self.signed|verify/i);
        } finally {
          client.close();
        }
      });

      it("plaintext HTTP/2 to the TLS socket fails UNAVAILABLE", async () => {
        const client = new EchoClient("unused", grpc.credentials.createInsecure(), {
          channelOverride: new PodplugChannel(fx.socket),
        });
        try {
          const o = await unary(client, "unary", { text: "plain" }, new grpc.Metadata(), {
            deadline: Date.now() + 10_000,
          });
          assert.equal(o.err?.code, grpc.status.UNAVAILABLE);
        } finally {
          client.close();
        }
      });
    }
  });
}
