/** A small keep-alive HTTP load loop over node:http (loopback): N concurrent clients, pre-built bodies. */
import { Agent, request } from "node:http";

export interface LoadResult {
  requests: number;
  ok: number;
  seconds: number;
  latenciesMs: number[];
}

function once(
  agent: Agent,
  url: URL,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers },
      (res) => {
        res.on("data", () => {});
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

export async function load(opts: {
  url: string;
  /** GET paths (with query) taken in turn, instead of the path of `url`. */
  paths?: string[];
  bodies?: string[];
  headers?: Record<string, string>;
  concurrency: number;
  seconds: number;
}): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const url = new URL(opts.url);
  const r: LoadResult = { requests: 0, ok: 0, seconds: 0, latenciesMs: [] };
  const started = performance.now();
  const end = started + opts.seconds * 1000;
  let i = 0;
  let p = 0;
  const worker = async () => {
    while (performance.now() < end) {
      const body = opts.bodies ? opts.bodies[i++ % opts.bodies.length] : undefined;
      const target = opts.paths ? new URL(opts.paths[p++ % opts.paths.length], url) : url;
      const headers = {
        ...opts.headers,
        ...(body ? { "content-length": String(Buffer.byteLength(body)) } : {}),
      };
      const t0 = performance.now();
      try {
        const status = await once(agent, target, body ? "POST" : "GET", headers, body);
        r.requests++;
        if (status === 200) r.ok++;
        r.latenciesMs.push(performance.now() - t0);
      } catch {
        r.requests++;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  r.seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return r;
}
