/** The operator's HTTP endpoints: /metrics on one port, /healthz and /readyz on another. */
import { createServer, type Server } from "node:http";

/** Routes of one server: path -> handler giving status and body. */
export type Routes = Record<string, () => Promise<{ status: number; body: string; type?: string }>>;

/** Listens on host:port; resolves with the server and the bound port. */
export function serve(host: string, port: number, routes: Routes): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const h = routes[path];
    if (!h || req.method !== "GET") {
      res.writeHead(404, { "Content-Type": "text/plain" }).end(`no route ${req.method} ${path}\n`);
      return;
    }
    h().then(
      (r) => res.writeHead(r.status, { "Content-Type": r.type ?? "text/plain" }).end(r.body),
      (err: Error) => res.writeHead(500, { "Content-Type": "text/plain" }).end(`${err.message}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const a = server.address();
      resolve({ server, port: typeof a === "object" && a ? a.port : port });
    });
  });
}
