/**
 * A scripted stand-in for the Kubernetes API server (no cluster exists in tests): answers list requests
 * with List documents and watch requests (`?watch=true`) with newline-delimited watch events, the wire
 * format of https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes.
 * Each path has a queue of list answers and a queue of watch scripts, consumed in order.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";

export type ListAnswer = { body: unknown } | { status: number };
export interface WatchScript {
  /** Answer the watch itself with this HTTP status (410 Gone: resourceVersion too old). */
  status?: number;
  events?: unknown[];
  /** After the events: "hold" keeps the stream open, "end" closes it cleanly, "drop" kills the socket. */
  after?: "hold" | "end" | "drop";
}
export interface Route {
  lists: ListAnswer[];
  watches: WatchScript[];
}
export interface Seen {
  path: string;
  watch: boolean;
  resourceVersion: string | null;
  authorization?: string;
}

function status(res: ServerResponse, code: number) {
  const reason = code === 410 ? "Expired" : "InternalError";
  res.writeHead(code, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "scripted failure",
      reason,
      code,
    }),
  );
}

export async function startK8sApi(routes: Record<string, Route>) {
  const seen: Seen[] = [];
  const held = new Set<ServerResponse>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const watch = url.searchParams.get("watch") === "true";
    seen.push({
      path: url.pathname,
      watch,
      resourceVersion: url.searchParams.get("resourceVersion"),
      authorization: req.headers.authorization,
    });
    const route = routes[url.pathname];
    if (!route) return status(res, 404);
    if (!watch) {
      const answer = route.lists.length > 1 ? route.lists.shift()! : route.lists[0];
      if ("status" in answer) return status(res, answer.status);
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify(answer.body));
    }
    const script = route.watches.shift() ?? { after: "hold" };
    if (script.status) return status(res, script.status);
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    res.flushHeaders(); // like the apiserver: the watch is established before the first event
    for (const ev of script.events ?? []) res.write(`${JSON.stringify(ev)}\n`);
    if (script.after === "end") res.end();
    else if (script.after === "drop") setTimeout(() => req.socket.destroy(), 50);
    else {
      held.add(res);
      res.on("close", () => held.delete(res));
    }
  };
  const server: Server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: "test", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "collector", token: "test-bearer-token" }],
    contexts: [{ name: "test", cluster: "test", user: "collector" }],
    currentContext: "test",
  });
  return {
    kubeConfig,
    seen,
    async close() {
      for (const r of held) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
