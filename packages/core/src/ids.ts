import { createHash } from "node:crypto";

/** Stable 128-bit hex id from parts; parts are joined with a separator no id part may contain. */
export function stableId(...parts: (string | number)[]): string {
  const h = createHash("sha256");
  for (const p of parts) {
    h.update(String(p));
    h.update("\u0000");
  }
  return h.digest("hex").slice(0, 32);
}
