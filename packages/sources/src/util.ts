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
  if (typeof v === "string") {
    const canonical = canonicalIso(v);
    if (canonical !== undefined) return { time: canonical };
  }
  return { time: new Date(ms).toISOString() };
}

/** RFC 3339 in UTC (`Z` or `±00:00`), seconds precision or up to 9 fraction digits: what most sources write. */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]00:00)$/;
/**
 * What `new Date(Date.parse(v)).toISOString()` returns, without building a Date (toISOString costs
 * ~1 µs, more than the rest of the time handling), for strings Date.parse already accepted: V8 truncates the
 * fraction to milliseconds and pads it to three digits. Only when no field can roll over: day ≤ 28 (Feb 30
 * becomes Mar 2) and hour ≠ 24 (24:00 is the next day); anything else, or any other shape, returns undefined.
 */
function canonicalIso(v: string): string | undefined {
  if (!ISO_UTC.test(v)) return undefined;
  const day = (v.charCodeAt(8) - 48) * 10 + (v.charCodeAt(9) - 48);
  if (day > 28 || (v.charCodeAt(11) === 50 && v.charCodeAt(12) === 52)) return undefined;
  const end = v.charCodeAt(v.length - 1) === 90 /* Z */ ? v.length - 1 : v.length - 6;
  if (v.length === 24 && end === 23) return v;
  if (end === 19) return `${v.slice(0, 19)}.000Z`;
  if (end >= 23) return `${v.slice(0, 23)}Z`;
  return `${v.slice(0, end)}${"000".slice(end - 20)}Z`;
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
    s = typeof v === "string" ? v : (JSON.stringify(v) ?? "");
  } catch {
    s = "[unserializable]";
  }
  return s.length > max ? `${s.slice(0, max)}…[truncated ${s.length - max} chars]` : s;
}

/**
 * Splits text that is a JSON document or NDJSON. A document (object or array) yields `unwrap(doc)`;
 * otherwise each non-empty line is parsed alone so one bad line does not sink its neighbours.
 * Two shapes shippers produce are tolerated: lines with a text prefix before the JSON object (the CRI
 * container log format `<time> stdout F {…}` when an apiserver logs audit events to stdout, syslog
 * headers, Vault's audit `prefix` option), and concatenated JSON values without one-per-line framing
 * (pretty-printed files joined together, Fluent Bit's `json_stream` format).
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
  // Split on "\n" alone: each line is trimmed below, which drops the "\r" of CRLF (same lines as /\r?\n/).
  const lines = trimmed.split("\n");
  let parsedLines = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    let r = safeJsonParse(line);
    const brace = line.indexOf("{");
    if ("error" in r && brace > 0) {
      const rest = safeJsonParse(line.slice(brace));
      if ("value" in rest) r = rest;
    }
    if ("value" in r) {
      // Scalars (a lone `"x"` or `1` line of a pretty-printed object) do not count as framed records.
      if (typeof r.value === "object" && r.value !== null) parsedLines++;
      records.push(...unwrap(r.value));
    }
    // No payload: an unparseable line cannot be redacted, so it is never stored.
    else errors.push({ index: i, reason: lines.length === 1 ? r.error : `line ${i + 1}: ${r.error}` });
  }
  if (errors.length === 0) return { records, errors };
  const concat = splitConcatenatedJson(trimmed);
  if (concat.values.length > parsedLines) {
    const out: unknown[] = [];
    for (const v of concat.values) out.push(...unwrap(v));
    const errs = concat.rest
      ? [{ index: concat.values.length, reason: `value ${concat.values.length + 1}: malformed JSON` }]
      : [];
    return { records: out, errors: errs };
  }
  return { records, errors };
}

/**
 * Splits `{…}{…}` / `{…}\n{…}` (any whitespace between top-level objects or arrays) without recursion;
 * stops at the first value that is not complete JSON and reports that a remainder was left.
 */
export function splitConcatenatedJson(text: string): { values: unknown[]; rest: boolean } {
  const values: unknown[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    while (i < n && /\s/.test(text[i])) i++;
    if (i >= n) break;
    if (text[i] !== "{" && text[i] !== "[") return { values, rest: true };
    let depth = 0;
    let inStr = false;
    let j = i;
    for (; j < n; j++) {
      const c = text[j];
      if (inStr) {
        if (c === "\\") j++;
        else if (c === '"') inStr = false;
      } else if (c === '"') inStr = true;
      else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        depth--;
        if (depth === 0) break;
      }
    }
    if (j >= n) return { values, rest: true };
    const r = safeJsonParse(text.slice(i, j + 1));
    if ("error" in r) return { values, rest: true };
    values.push(r.value);
    i = j + 1;
  }
  return { values, rest: false };
}
