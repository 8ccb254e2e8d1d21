import assert from "node:assert/strict";
import { negotiateVersion, readPluginEnv, validateHandshakeConfig } from "../../src/protocol/env.ts";

describe("plugin environment", () => {
  it("reads go-plugin's variables", () => {
    const e = readPluginEnv({
      PLUGIN_PROTOCOL_VERSIONS: "3,1,2",
      PLUGIN_MULTIPLEX_GRPC: "true",
      PLUGIN_UNIX_SOCKET_DIR: "/s",
      PLUGIN_UNIX_SOCKET_GROUP: "plugins",
      PODPLUG_HANDSHAKE_FILE: "/s/handshake",
    });
    assert.deepEqual(e.hostVersions, [3, 1, 2]);
    assert.equal(e.multiplex, true);
    assert.equal(e.socketDir, "/s");
    assert.equal(e.socketGroup, "plugins");
    assert.equal(e.handshakeFile, "/s/handshake");
  });

  it("drops and reports versions that are not integers, as go-plugin does", () => {
    const e = readPluginEnv({ PLUGIN_PROTOCOL_VERSIONS: "1,two,,3.5,4" });
    assert.deepEqual(e.hostVersions, [1, 4]);
    assert.deepEqual(e.invalidVersions, ["two", "", "3.5"]);
  });

  it("treats a non-boolean multiplex flag as off", () => {
    assert.equal(readPluginEnv({ PLUGIN_MULTIPLEX_GRPC: "yes" }).multiplex, false);
    assert.equal(readPluginEnv({}).multiplex, false);
  });

  it("negotiates the highest common version", () => {
    assert.equal(negotiateVersion([1, 2, 3], [2, 3]), 3);
    assert.equal(negotiateVersion([1, 2], [2, 5]), 2);
  });

  it("answers with its lowest version when none is common (the host then refuses)", () => {
    assert.equal(negotiateVersion([4, 2, 3], [1]), 2);
    assert.equal(negotiateVersion([4, 2], []), 2);
  });

  it("refuses a config without a cookie or with a bad key", () => {
    assert.throws(
      () => validateHandshakeConfig({ protocolVersion: 1, magicCookieKey: "", magicCookieValue: "x" }, "t"),
      { code: "CONFIG_INVALID" },
    );
    assert.throws(
      () => validateHandshakeConfig({ protocolVersion: 1, magicCookieKey: "A=B", magicCookieValue: "x" }, "t"),
      { code: "CONFIG_INVALID" },
    );
    assert.throws(
      () => validateHandshakeConfig({ protocolVersion: -1, magicCookieKey: "K", magicCookieValue: "x" }, "t"),
      { code: "CONFIG_INVALID" },
    );
  });
});
