/**
 * Run inside a network namespace: forwards each connection to the Unix
 * socket argv[2] (a file the test process can open from the root namespace)
 * to 127.0.0.1:argv[3] of that namespace. So the test reaches a Prometheus
 * that itself reaches only addresses inside the node's namespace.
 */
import { connect, createServer } from "node:net";

const [socketPath, portArg] = process.argv.slice(2);
const port = Number(portArg);
if (!socketPath || !Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write("usage: netns-bridge.ts <unix socket path> <port on this namespace's 127.0.0.1>\n");
  process.exit(2);
}
const server = createServer((down) => {
  const up = connect({ host: "127.0.0.1", port });
  down.pipe(up).pipe(down);
  const end = (): void => {
    down.destroy();
    up.destroy();
  };
  up.on("error", end);
  down.on("error", end);
  up.on("close", end);
  down.on("close", end);
});
server.listen(socketPath);
// The socket file goes with the test's temp folder.
for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => process.exit(0));
