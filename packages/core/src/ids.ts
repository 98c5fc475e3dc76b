import { hash } from "node:crypto";

/**
 * Stable 128-bit hex id from parts: sha256 over each part followed by a NUL (no id part contains one),
 * truncated to 32 hex digits. One-shot `crypto.hash` (Node ≥ 20.12) is ~3× cheaper than a Hash object,
 * and ids are computed for every event.
 */
export function stableId(...parts: (string | number)[]): string {
  let s = "";
  for (const p of parts) s += `${p}\u0000`;
  return hash("sha256", s, "hex").slice(0, 32);
}
