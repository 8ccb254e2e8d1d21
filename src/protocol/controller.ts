/**
 * go-plugin's GRPCController: the host asks the plugin to shut down. go-plugin
 * stops the server before replying, so its reply may never come; podplug
 * replies first, then drains in-flight calls up to a deadline and exits.
 */
import type { GRPCControllerServer } from "../gen/plugin/grpc_controller.ts";

/** The controller implementation; `onShutdown` runs after the reply is sent. */
export function controllerImplementation(onShutdown: () => void): GRPCControllerServer {
  return {
    shutdown: (_call, cb) => {
      cb(null, {});
      setImmediate(onShutdown);
    },
  };
}
