import { gunzipSync, inflateSync } from "node:zlib";
import { err, ok, type Result } from "@identrail/core";

export interface BodyError {
  code: "payload_too_large" | "invalid_body" | "unsupported_encoding";
  detail: string;
}

/**
 * Decompresses a request body (Content-Encoding gzip/deflate, or gzip magic bytes) with a hard cap on the
 * output, so a small gzip bomb cannot expand past `maxBytes`.
 */
export function decompress(
  body: Buffer,
  encoding: string | undefined,
  maxBytes: number,
): Result<Buffer, BodyError> {
  const enc = (encoding ?? "").trim().toLowerCase();
  const looksGzip = body.length > 2 && body[0] === 0x1f && body[1] === 0x8b;
  if (enc && enc !== "identity" && enc !== "gzip" && enc !== "x-gzip" && enc !== "deflate")
    return err({ code: "unsupported_encoding", detail: `content-encoding ${enc.slice(0, 32)}` });
  if (enc === "gzip" || enc === "x-gzip" || (enc === "" && looksGzip)) {
    try {
      return ok(gunzipSync(body, { maxOutputLength: maxBytes }));
    } catch (e) {
      return err(inflateError(e, maxBytes));
    }
  }
  if (enc === "deflate") {
    try {
      return ok(inflateSync(body, { maxOutputLength: maxBytes }));
    } catch (e) {
      return err(inflateError(e, maxBytes));
    }
  }
  return ok(body);
}

function inflateError(e: unknown, maxBytes: number): BodyError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError)
    return { code: "payload_too_large", detail: `decompressed body exceeds ${maxBytes} bytes` };
  return { code: "invalid_body", detail: "corrupt or truncated compressed body" };
}

const fatal = new TextDecoder("utf-8", { fatal: true });

/** The ingest errors for the lines decodeUtf8 could not decode (0-based line numbers). */
export function invalidUtf8Errors(badLines: number[]): { index: number; reason: string }[] {
  return badLines.map((n) => ({ index: n, reason: `line ${n + 1}: invalid UTF-8` }));
}

/**
 * UTF-8 decoding that isolates damage: when the whole body is not valid UTF-8, each line is decoded on
 * its own and bad lines are reported (by number) instead of sinking the request.
 */
export function decodeUtf8(buf: Buffer): { text: string; badLines: number[] } {
  try {
    return { text: fatal.decode(buf), badLines: [] };
  } catch {
    const lines: string[] = [];
    const badLines: number[] = [];
    let start = 0;
    let n = 0;
    for (let i = 0; i <= buf.length; i++) {
      if (i === buf.length || buf[i] === 0x0a) {
        const slice = buf.subarray(start, i);
        try {
          lines.push(fatal.decode(slice));
        } catch {
          badLines.push(n);
          lines.push("");
        }
        start = i + 1;
        n++;
      }
    }
    return { text: lines.join("\n"), badLines };
  }
}
