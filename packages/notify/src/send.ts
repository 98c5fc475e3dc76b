import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { checkUrl, guardedLookup, type SsrfPolicy } from "./ssrf";

export interface SendResult {
  /** HTTP status, 0 when no response (network error, timeout, refused by the SSRF guard). */
  status: number;
  /** Short, payload-free description for the attempts log. */
  error: string;
  /** Seconds the receiver asked us to wait (Retry-After), when given. */
  retryAfter?: number;
}

/** POSTs a JSON body; never throws. Response bodies are read (bounded) and discarded. */
export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  opts: SsrfPolicy & { timeout: number },
): Promise<SendResult> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, "");
  // Node skips `lookup` for IP literals, so judge those here.
  if (isIP(host)) {
    try {
      await checkUrl(url, opts);
    } catch (e) {
      return { status: 0, error: (e as Error).message };
    }
  }
  const req = u.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const r = req(
      u,
      {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "content-length": String(Buffer.byteLength(body)),
          "user-agent": "identrail-notify/0.1",
          ...headers,
        },
        lookup: guardedLookup(opts) as never,
        timeout: opts.timeout,
      },
      (res) => {
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > 64 * 1024) res.destroy();
        });
        const done = () => {
          const status = res.statusCode ?? 0;
          const ra = Number(res.headers["retry-after"]);
          resolve({
            status,
            error: status >= 200 && status < 300 ? "" : `HTTP ${status}`,
            retryAfter: Number.isFinite(ra) && ra > 0 ? ra : undefined,
          });
        };
        res.on("end", done);
        res.on("close", done);
        res.on("error", done);
      },
    );
    r.on("timeout", () => r.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })));
    r.on("error", (e: NodeJS.ErrnoException) =>
      resolve({ status: 0, error: e.code === "ESSRF" ? e.message : `network error ${e.code ?? "unknown"}` }),
    );
    r.end(body);
  });
}

/** Retry on network errors, 408, 429 and 5xx; other 4xx mean the request itself is wrong. */
export function retryable(r: SendResult): boolean {
  return r.status === 0 || r.status === 408 || r.status === 429 || r.status >= 500;
}
