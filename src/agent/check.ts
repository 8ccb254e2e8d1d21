/** One gRPC health Check{service:"plugin"} over a plugin's Unix socket. */
import { type ChannelCredentials, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { PLUGIN_HEALTH_SERVICE } from "../constants.ts";
import { HealthClient, HealthCheckResponse_ServingStatus as Status } from "../gen/grpc/health/v1/health.ts";
import { AgentError } from "./errors.ts";

/** Resolves when the plugin at `socket` reports SERVING; throws AgentError otherwise. `creds` default to plaintext. */
export function checkHealth(
  socket: string,
  timeoutMs: number,
  creds: ChannelCredentials = credentials.createInsecure(),
): Promise<void> {
  const client = new HealthClient(`unix://${socket}`, creds);
  return new Promise<void>((resolve, reject) => {
    client.check(
      { service: PLUGIN_HEALTH_SERVICE },
      new Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err: ServiceError | null, res) => {
        client.close();
        if (err) {
          reject(
            new AgentError(
              "AGENT_CHECK_FAILED",
              `health check over ${socket} failed: ${err.code} ${err.details || err.message}`,
            ),
          );
        } else if (res?.status !== Status.SERVING) {
          reject(
            new AgentError(
              "AGENT_NOT_SERVING",
              `plugin at ${socket} reports status ${res?.status ?? "none"}, not SERVING`,
            ),
          );
        } else {
          resolve();
        }
      },
    );
  });
}
