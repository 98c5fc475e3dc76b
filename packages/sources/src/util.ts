/** Small, allocation-light accessors for untrusted JSON. */
import { wholeDocumentTexts } from "./element-texts";
import type { DecodeError, DecodeResult } from "./types";

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
  // Usual case, every item a string of at most 512 chars: one exact-size copy, instead of an empty array
  // grown by push (which allocates room for 17 items for the first one).
  if (Array.isArray(v) && maxItems > 0) {
    const n = Math.min(v.length, maxItems);
    let i = 0;
    while (i < n && typeof v[i] === "string" && (v[i] as string).length <= 512) i++;
    if (i === n) return v.slice(0, n);
  }
  const out: string[] = [];
  for (const x of arr(v)) {
    const s = str(x, 512);
    if (s !== undefined) out.push(s);
    if (out.length >= maxItems) break;
  }
  return out;
}
/** `xs.join(",")` by concatenation, which V8 does several times faster for the short lists of one event. */
export function commaList(xs: string[]): string {
  if (xs.length === 0) return "";
  let s = xs[0];
  for (let i = 1; i < xs.length; i++) s += `,${xs[i]}`;
  return s;
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
  let canonical: string | undefined;
  if (typeof v === "string") {
    ms = isoUtcMs(v);
    if (ms === undefined) ms = v.length <= 64 ? Date.parse(v) : undefined;
    else canonical = canonicalIso(v);
  } else if (typeof v === "number" && Number.isFinite(v)) ms = v > 1e12 ? v : v * 1000;
  if (ms === undefined || Number.isNaN(ms)) return { error: "missing or unparseable timestamp" };
  if (ms < MIN_TIME) return { error: "timestamp before 2000-01-01" };
  if (ms > now + MAX_FUTURE_MS) return { error: "timestamp more than 24h in the future" };
  return { time: canonical ?? new Date(ms).toISOString() };
}

/** Value of the two ASCII digits at `i`, or -1 when either is not a digit. */
function two(v: string, i: number): number {
  const a = v.charCodeAt(i) - 48;
  const b = v.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * `Date.parse(v)` for the shape most sources write — RFC 3339 in UTC (`Z` or `±00:00`), seconds precision
 * or up to 9 fraction digits — read field by field (Date.parse plus a regex cost more than the rest of the
 * time handling). Only where no field can roll over or be rejected: month 1–12, day 1 to the month's length
 * (Feb 30 becomes Mar 2; days 29–31 are a tenth of real timestamps, so they stay on this path), hour 0–23
 * (24:00 is the next day), minute and second 0–59, year ≥ 1000. Returns undefined for anything else, which
 * then goes through Date.parse. V8 truncates the fraction to milliseconds, as done here.
 */
function isoUtcMs(v: string): number | undefined {
  const n = v.length;
  if (n < 20 || n > 35) return undefined;
  if (
    v.charCodeAt(4) !== 45 /* - */ ||
    v.charCodeAt(7) !== 45 ||
    v.charCodeAt(10) !== 84 /* T */ ||
    v.charCodeAt(13) !== 58 /* : */ ||
    v.charCodeAt(16) !== 58
  )
    return undefined;
  const yh = two(v, 0);
  const yl = two(v, 2);
  const mo = two(v, 5);
  const d = two(v, 8);
  const h = two(v, 11);
  const mi = two(v, 14);
  const s = two(v, 17);
  if (yh < 10 || yl < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59)
    return undefined;
  if (d > 28 && d > monthDays(yh * 100 + yl, mo)) return undefined;
  if (s < 0 || s > 59) return undefined;
  // Zone: "Z" or "+00:00" / "-00:00" at the end.
  let end: number;
  if (v.charCodeAt(n - 1) === 90 /* Z */) end = n - 1;
  else {
    const sign = v.charCodeAt(n - 6);
    if ((sign !== 43 && sign !== 45) || v.charCodeAt(n - 5) !== 48 || v.charCodeAt(n - 4) !== 48)
      return undefined;
    if (v.charCodeAt(n - 3) !== 58 || v.charCodeAt(n - 2) !== 48 || v.charCodeAt(n - 1) !== 48)
      return undefined;
    end = n - 6;
  }
  let frac = 0;
  if (end !== 19) {
    // "." and 1–9 digits.
    if (v.charCodeAt(19) !== 46 || end < 21 || end > 29) return undefined;
    for (let i = 20; i < end; i++) {
      const c = v.charCodeAt(i) - 48;
      if (c < 0 || c > 9) return undefined;
      if (i < 23) frac = frac * 10 + c;
    }
    if (end === 21) frac *= 100;
    else if (end === 22) frac *= 10;
  }
  return ((daysFromCivil(yh * 100 + yl, mo, d) * 24 + h) * 60 + mi) * 60_000 + s * 1000 + frac;
}

/** Days in `month` (1–12) of proleptic Gregorian `year`. */
function monthDays(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Days since 1970-01-01 of a proleptic Gregorian date (month 1–12), what Date.UTC computes, in a few integer
 * operations rather than a builtin call: https://howardhinnant.github.io/date_algorithms.html#days_from_civil
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/**
 * What `new Date(isoUtcMs(v)).toISOString()` returns, without building a Date (toISOString costs ~1 µs,
 * more than the rest of the time handling), for strings isoUtcMs accepted: the fraction truncated to
 * milliseconds and padded to three digits.
 */
function canonicalIso(v: string): string {
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

/**
 * A table column that holds a JSON object or array as text (BigQuery JSON/STRING columns, Log Analytics
 * `dynamic` columns as the query API and CLI print them): parsed; any other value, and text longer than
 * `maxChars`, as it is; undefined when the text looks like JSON but does not parse.
 */
export function jsonColumn(v: unknown, maxChars: number): unknown {
  if (typeof v !== "string") return v;
  const t = v.trimStart();
  if (!t.startsWith("{") && !t.startsWith("[")) return v;
  if (v.length > maxChars) return v;
  const p = safeJsonParse(t);
  return "value" in p ? p.value : undefined;
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
export function decodeJsonOrNdjson(text: string, unwrap: (doc: unknown) => unknown[]): DecodeResult {
  const records: unknown[] = [];
  // Each record's own line, when the line was parsed whole into exactly that record (DecodeResult.texts).
  const texts: (string | undefined)[] = [];
  const errors: DecodeError[] = [];
  const trimmed = text.trim();
  if (trimmed === "") return { records, errors: [{ index: 0, reason: "empty body" }] };
  const whole = safeJsonParse(trimmed);
  if ("value" in whole) {
    records.push(...unwrap(whole.value));
    return new WholeDocument(records, errors, trimmed, whole.value);
  }
  // Split on "\n" alone: each line is trimmed below, which drops the "\r" of CRLF (same lines as /\r?\n/).
  const lines = trimmed.split("\n");
  let parsedLines = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    let r = safeJsonParse(line);
    const whole = "value" in r;
    if ("error" in r) {
      const brace = line.indexOf("{");
      if (brace > 0) {
        const rest = safeJsonParse(line.slice(brace));
        if ("value" in rest) r = rest;
      }
    }
    if ("value" in r) {
      // Scalars (a lone `"x"` or `1` line of a pretty-printed object) do not count as framed records.
      if (typeof r.value === "object" && r.value !== null) parsedLines++;
      const values = unwrap(r.value);
      // One record per line is the usual case: a plain push, not a spread call.
      if (values.length === 1) {
        if (whole && values[0] === r.value) texts[records.length] = line;
        records.push(values[0]);
      } else records.push(...values);
    }
    // No payload: an unparseable line cannot be redacted, so it is never stored.
    else errors.push({ index: i, reason: lines.length === 1 ? r.error : `line ${i + 1}: ${r.error}` });
  }
  if (errors.length === 0) return { records, errors, texts };
  const concat = splitConcatenatedJson(trimmed);
  if (concat.values.length > parsedLines) {
    const out: unknown[] = [];
    for (const v of concat.values) out.push(...unwrap(v));
    const errs = concat.rest
      ? [{ index: concat.values.length, reason: `value ${concat.values.length + 1}: malformed JSON` }]
      : [];
    return { records: out, errors: errs };
  }
  return { records, errors, texts };
}

/**
 * A whole-document decode. Its `texts` are found on first use: only the collector forwards them, and the
 * scan (~1 µs per audit event) would be paid for nothing by parse + normalize elsewhere.
 */
class WholeDocument implements DecodeResult {
  // Private fields and a prototype getter: the result still compares and prints as { records, errors }.
  #found: (string | undefined)[] | undefined | null = null;
  readonly #text: string;
  readonly #doc: unknown;
  constructor(
    readonly records: unknown[],
    readonly errors: DecodeError[],
    text: string,
    doc: unknown,
  ) {
    this.#text = text;
    this.#doc = doc;
  }
  get texts(): (string | undefined)[] | undefined {
    if (this.#found === null) this.#found = wholeDocumentTexts(this.#text, this.#doc, this.records);
    return this.#found;
  }
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
