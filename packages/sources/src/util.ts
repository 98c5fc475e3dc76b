/** Small, allocation-light accessors for untrusted JSON. */
export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
export function str(v: unknown, max = 4096): string | undefined {
  if (typeof v === "string") return v.length > max ? v.slice(0, max) : v;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return undefined;
}
export function obj(v: unknown): Obj | undefined {
  return isObj(v) ? v : undefined;
}
export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
export function strArr(v: unknown, maxItems = 256): string[] {
  const out: string[] = [];
  for (const x of arr(v)) {
    const s = str(x, 512);
    if (s !== undefined) out.push(s);
    if (out.length >= maxItems) break;
  }
  return out;
}
export function num(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}
export function nonNegInt(v: unknown): number {
  const n = num(v);
  return n !== undefined && n >= 0 ? Math.min(Math.floor(n), Number.MAX_SAFE_INTEGER) : 0;
}

/** Earliest and latest event times we accept: older or farther ahead is almost surely a broken clock or field. */
const MIN_TIME = Date.UTC(2000, 0, 1);
const MAX_FUTURE_MS = 24 * 3600 * 1000;

/** Parses a source timestamp into RFC 3339 UTC with ms, or explains why it is unusable. */
export function eventTime(v: unknown, now = Date.now()): { time: string } | { error: string } {
  let ms: number | undefined;
  if (typeof v === "string" && v.length <= 64) ms = Date.parse(v);
  else if (typeof v === "number" && Number.isFinite(v)) ms = v > 1e12 ? v : v * 1000;
  if (ms === undefined || Number.isNaN(ms)) return { error: "missing or unparseable timestamp" };
  if (ms < MIN_TIME) return { error: "timestamp before 2000-01-01" };
  if (ms > now + MAX_FUTURE_MS) return { error: "timestamp more than 24h in the future" };
  return { time: new Date(ms).toISOString() };
}

export function safeJsonParse(text: string): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    // RangeError for absurd nesting lands here too; the message never includes the input.
    return { error: e instanceof RangeError ? "JSON nested too deeply" : "malformed JSON" };
  }
}

/** Truncated JSON for dead letters; callers pass already-redacted values. */
export function preview(v: unknown, max = 2048): string {
  let s: string;
  try {
    s = typeof v === "string" ? v : JSON.stringify(v) ?? "";
  } catch {
    s = "[unserializable]";
  }
  return s.length > max ? `${s.slice(0, max)}…[truncated ${s.length - max} chars]` : s;
}

/**
 * Splits text that is a JSON document or NDJSON. A document (object or array) yields `unwrap(doc)`;
 * otherwise each non-empty line is parsed alone so one bad line does not sink its neighbours.
 */
export function decodeJsonOrNdjson(text: string, unwrap: (doc: unknown) => unknown[]) {
  const records: unknown[] = [];
  const errors: { index: number; reason: string; payload?: string }[] = [];
  const trimmed = text.trim();
  if (trimmed === "") return { records, errors: [{ index: 0, reason: "empty body" }] };
  const whole = safeJsonParse(trimmed);
  if ("value" in whole) {
    records.push(...unwrap(whole.value));
    return { records, errors };
  }
  const lines = trimmed.split(/\r?\n/);
  if (lines.length === 1) return { records, errors: [{ index: 0, reason: whole.error }] };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    const r = safeJsonParse(line);
    if ("value" in r) records.push(...unwrap(r.value));
    // No payload: an unparseable line cannot be redacted, so it is never stored.
    else errors.push({ index: i, reason: `line ${i + 1}: ${r.error}` });
  }
  return { records, errors };
}
