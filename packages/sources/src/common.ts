/**
 * Helpers shared by the source parsers: safe copies of untrusted objects, key-based redaction,
 * and clamping of normalized events to the schema's limits (the normalizer does not re-validate).
 */
import type { NormalizedEvent } from "@identrail/schema";
import { isObj, type Obj, safeJsonParse } from "./util";

/**
 * A record that decode could split out but not parse (e.g. a Pub/Sub message whose base64 data is
 * not JSON). `accept` turns it into a rejection with `reason`, so it is counted and dead-lettered
 * without its (unredactable) content.
 */
export class Undecodable {
  constructor(readonly reason: string) {}
  toJSON() {
    return { undecodable: this.reason };
  }
}

/**
 * The record a log shipper wrapped around one line of a JSON log file written to stdout: Docker's
 * json-file driver, Fluent Bit and Fluentd (`{"log":"<line>","stream","time"}`), Vector's file source
 * (`{"message":"<line>"}`) (https://docs.docker.com/engine/logging/drivers/json-file/). A text prefix
 * before the JSON (CRI's `<time> stdout F `) is skipped. Undefined when `doc` has no such line;
 * Undecodable when the line is not a JSON object (`what` names the record the line should have held).
 */
export function shippedLine(doc: Obj, what: string): Obj | Undecodable | undefined {
  const line =
    typeof doc.log === "string" ? doc.log : typeof doc.message === "string" ? doc.message : undefined;
  if (line === undefined) return undefined;
  const brace = line.indexOf("{");
  const p = brace < 0 ? undefined : safeJsonParse(line.slice(brace));
  if (!p || "error" in p || !isObj(p.value)) return new Undecodable(`shipped log line is not a JSON ${what}`);
  return p.value;
}

export const REDACTED = "[redacted]";
const MAX_DEPTH = 64;

/** Sets an own property even for `__proto__`, which plain assignment would treat as the prototype. */
export function setOwn(o: Obj, k: string, v: unknown): void {
  // Plain assignment creates an own property for every other key (Object.prototype has no other setter)
  // and is several times cheaper than defineProperty, which runs for every key of every record.
  if (k === "__proto__")
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

/**
 * JSON-like data in which `replace(key, value, depth)` may substitute any value (return `undefined` to keep
 * recursing). Too-deep subtrees are replaced, never recursed into. Copy on write: an array or plain object
 * in which nothing is substituted is returned as it is (shared with the input), and one that changes is
 * copied once, when its first substitution is found — the JSON is the same as a full deep copy's, without
 * copying every header map and request body of every record (the result is serialized, never mutated).
 * Objects with another prototype are still copied into plain objects, as before.
 */
export function mapDeep(
  v: unknown,
  replace: (key: string, value: unknown, depth: number) => unknown,
  depth = 0,
): unknown {
  if (depth > MAX_DEPTH) return "[redacted: too deep]";
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      const y = mapDeep(x, replace, depth + 1);
      if (y === x) continue;
      if (out === undefined) out = v.slice();
      out[i] = y;
    }
    return out ?? v;
  }
  if (!isObj(v)) return v;
  if (Object.getPrototypeOf(v) !== Object.prototype) {
    const copy: Obj = {};
    for (const k of Object.keys(v)) {
      const r = replace(k, v[k], depth);
      setOwn(copy, k, r !== undefined ? r : mapDeep(v[k], replace, depth + 1));
    }
    return copy;
  }
  let out: Obj | undefined;
  for (const k of Object.keys(v)) {
    const x = v[k];
    const r = replace(k, x, depth);
    const y = r !== undefined ? r : mapDeep(x, replace, depth + 1);
    if (y === x) continue;
    // Spread keeps every key in place (own enumerable keys in Object.keys order, `__proto__` as an own key).
    if (out === undefined) out = { ...v };
    setOwn(out, k, y);
  }
  return out ?? v;
}

/** Replaces the values of keys for which `isSecret(key.toLowerCase())` holds, anywhere in the tree. */
export function redactKeys(v: unknown, isSecret: (lowerKey: string) => boolean): unknown {
  // The credential list, which every parser uses, is matched without lower-casing a copy of each key.
  if (isSecret === isCredentialKey) return mapDeep(v, redactCredential);
  return mapDeep(v, (k, val) => (val !== null && isSecret(k.toLowerCase()) ? REDACTED : undefined));
}
function redactCredential(k: string, val: unknown): unknown {
  return val !== null && isCredentialKeyAnyCase(k) ? REDACTED : undefined;
}

/** Shallow copy keeping only `keys` (own properties only). */
export function pick(o: Obj, keys: readonly string[]): Obj {
  const out: Obj = {};
  for (const k of keys) if (Object.hasOwn(o, k)) setOwn(out, k, o[k]);
  return out;
}

/** Credential-bearing key names common to the cloud APIs and HTTP headers (lower case). */
const SECRET_KEY_NAMES = new Set([
  "secretstring",
  "secretbinary",
  "secretvalue",
  "sessiontoken",
  "secretaccesskey",
  "password",
  "privatekey",
  "private_key",
  "plaintext",
  "client_secret",
  "clientsecret",
  "authorization",
  "cookie",
  "set-cookie",
  "x-amz-security-token",
  "x-amz-signature",
  "x-amz-server-side-encryption-customer-key",
  "x-amz-copy-source-server-side-encryption-customer-key",
  "x-goog-encryption-key",
  "x-goog-copy-source-encryption-key",
  "signature",
  // Bearer material some APIs echo (AWS hides these as HIDDEN_DUE_TO_SECURITY_REASONS today; a future
  // field or a forwarder that re-serializes must not leak one).
  "token",
  "webidentitytoken",
  "samlassertion",
  "id_token",
  "access_token",
  "refresh_token",
  // AWS API members as CloudTrail spells them (camelCase, here lower case): Secrets Manager
  // GetRandomPassword `randomPassword`; SSO OIDC CreateToken and Cognito `accessToken` / `refreshToken` /
  // `idToken`; IAM and Cognito ChangePassword `oldPassword` / `newPassword` / `previousPassword` /
  // `proposedPassword`; ECR and CodeArtifact GetAuthorizationToken `authorizationToken`; Redshift
  // GetClusterCredentials `dbPassword`; IAM CreateServiceSpecificCredential `servicePassword`; EC2
  // GetPasswordData `passwordData`; ACM ExportCertificate `passphrase`; Cognito Identity
  // GetCredentialsForIdentity `secretKey`. The same names mean the same in any other source's payload.
  "randompassword",
  "accesstoken",
  "refreshtoken",
  "idtoken",
  "oldpassword",
  "newpassword",
  "previouspassword",
  "proposedpassword",
  "authorizationtoken",
  "dbpassword",
  "servicepassword",
  "passworddata",
  "passphrase",
  "secretkey",
]);
export function isCredentialKey(lowerKey: string): boolean {
  return SECRET_KEY_NAMES.has(lowerKey);
}

/**
 * `key.toLowerCase() === lower` for an ASCII lower-case `lower`, without lower-casing a copy of the key
 * (exact for the reasons given at isCredentialKeyAnyCase; a key with non-ASCII characters is lower-cased).
 */
export function equalsLowerAscii(key: string, lower: string): boolean {
  if (key.length !== lower.length) return false;
  for (let i = 0; i < key.length; i++) {
    let c = key.charCodeAt(i);
    if (c > 127) return key.toLowerCase() === lower;
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** The credential names by length (all ASCII lower case). */
const SECRET_BY_LENGTH: string[][] = [];
for (const name of SECRET_KEY_NAMES) (SECRET_BY_LENGTH[name.length] ??= []).push(name);

/**
 * `isCredentialKey(key.toLowerCase())` without the lower-cased copy and its hash, which cost more than the
 * rest of a header map's redaction: the key is compared with the names of its length, ASCII letters folded.
 * Exact for every key: toLowerCase maps ASCII letters as done here and leaves other ASCII alone, and a
 * non-ASCII character either lower-cases to something that is not ASCII (so the key cannot match) or, like
 * U+212A KELVIN SIGN → "k", to one ASCII letter — such keys take the toLowerCase path.
 */
export function isCredentialKeyAnyCase(key: string): boolean {
  const names = key.length < SECRET_BY_LENGTH.length ? SECRET_BY_LENGTH[key.length] : undefined;
  if (names === undefined) return false;
  for (let j = 0; j < names.length; j++) {
    const name = names[j];
    let i = 0;
    for (; i < key.length; i++) {
      let c = key.charCodeAt(i);
      if (c > 127) return isCredentialKey(key.toLowerCase());
      if (c >= 65 && c <= 90) c += 32;
      if (c !== name.charCodeAt(i)) break;
    }
    if (i === key.length) return true;
  }
  return false;
}

const clip = (s: string | undefined, max: number) =>
  s === undefined ? undefined : s.length > max ? s.slice(0, max) : s;

/**
 * Clamps every string and list to the NormalizedEvent schema's limits. `e` is clamped in place and
 * returned: every parser builds it fresh for this call, and assigning its own keys keeps them where they
 * are, so the result has the keys and order that a copy (`{ ...e, cluster: …, attrs: … }`) would have,
 * without a second event object per record. The actor is rebuilt and its attrs copied (CloudTrail shares
 * an actor's attrs and links between the events of one record); lists that need no clamping are kept.
 */
export function finishEvent(e: NormalizedEvent): NormalizedEvent {
  const a = e.actor;
  e.cluster = clip(e.cluster, 256) ?? "";
  e.actor = {
    principal: clip(a.principal, 1024) || "unknown",
    type: a.type,
    display_name: clip(a.display_name, 1024),
    uid: clip(a.uid, 256),
    groups: clipList(a.groups, 256, 512),
    credential_id: clip(a.credential_id, 512),
    session: clip(a.session, 1024),
    impersonated: clip(a.impersonated, 1024),
    links: uniqueLinks(a.links),
    attrs: clipAttrs(a.attrs),
  };
  e.operation = clip(e.operation, 512) ?? "";
  e.resource = {
    uri: clip(e.resource.uri, 4096) ?? "",
    type: clip(e.resource.type, 256) ?? "",
    name: clip(e.resource.name, 2048),
    namespace: clip(e.resource.namespace, 256),
  };
  e.src_ip = clip(e.src_ip, 128) ?? "";
  e.user_agent = clip(e.user_agent, 2048) ?? "";
  e.reason = clip(e.reason, 2048) ?? "";
  // HTTP-like codes only (ClickHouse Int32); a forged 2^60 must not overflow the column.
  e.status_code =
    Number.isInteger(e.status_code) && e.status_code >= 0 && e.status_code <= 999 ? e.status_code : 0;
  e.bytes_in = safeBytes(e.bytes_in);
  e.bytes_out = safeBytes(e.bytes_out);
  e.raw_ref = clip(e.raw_ref, 512) ?? "";
  // The event's own attrs are built per event too: kept as they are when they already fit.
  if (!attrsFit(e.attrs)) e.attrs = clipAttrs(e.attrs);
  return e;
}
/** A copy of `m` with keys of at most 128 chars and only non-empty string values of at most 2048 chars. */
function clipAttrs(m: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in m) {
    if (!Object.hasOwn(m, k)) continue;
    const v = m[k];
    if (typeof v === "string" && v !== "") setOwn(out, k.length > 128 ? k.slice(0, 128) : k, clip(v, 2048));
  }
  return out;
}
/** Whether clipAttrs(m) would equal `m`: same own keys, same order, same values. */
function attrsFit(m: Record<string, string>): boolean {
  if (Object.getPrototypeOf(m) !== Object.prototype) return false;
  for (const k in m) {
    if (!Object.hasOwn(m, k)) return false;
    const v = m[k];
    if (typeof v !== "string" || v === "" || v.length > 2048 || k.length > 128) return false;
  }
  return true;
}
/** The first `maxItems` of `xs` clipped to `max` chars; `xs` itself when that changes nothing. */
function clipList(xs: string[], maxItems: number, max: number): string[] {
  if (xs.length <= maxItems && xs.every((x) => typeof x === "string" && x.length <= max)) return xs;
  const n = Math.min(xs.length, maxItems);
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = clip(xs[i], max) as string;
  return out;
}
/** Distinct links of at most 1024 chars, first occurrence first, at most 64 (a Set only for long lists). */
function uniqueLinks(links: string[]): string[] {
  if (links.length > 8) return [...new Set(links.filter((l) => l.length <= 1024))].slice(0, 64);
  if (links.every((l, i) => l.length <= 1024 && links.indexOf(l) === i)) return links;
  const out: string[] = [];
  for (const l of links) if (l.length <= 1024 && !out.includes(l)) out.push(l);
  return out;
}
function safeBytes(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.min(Math.floor(n), Number.MAX_SAFE_INTEGER) : 0;
}

/** Attribute setter that skips empty values. */
export function attrSetter(attrs: Record<string, string>) {
  return (k: string, v: string | undefined | null) => {
    if (v !== undefined && v !== null && v !== "") setOwn(attrs, k, v.length > 1024 ? v.slice(0, 1024) : v);
  };
}

/** decodeURIComponent that never throws (malformed escapes are kept as written). */
export function safeDecodeUri(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Maps an HTTP status to an outcome: 0 or absent means the source did not say. */
export function outcomeOf(status: number): "success" | "failure" | "unknown" {
  if (!status) return "unknown";
  return status >= 400 ? "failure" : "success";
}

const MAX_PUSH_DATA = 4 * 1024 * 1024;
/**
 * Pub/Sub push envelope (https://cloud.google.com/pubsub/docs/push#receive_push): `message.data` is the
 * base64 of what the log sink published (one LogEntry). Returns undefined when `doc` is not an envelope.
 */
export function unwrapPubSub(doc: Obj): { value: unknown } | Undecodable | undefined {
  const msg = isObj(doc.message) ? doc.message : undefined;
  if (!msg || typeof doc.subscription !== "string") return undefined;
  const data = msg.data;
  if (typeof data !== "string" || data.length > MAX_PUSH_DATA)
    return new Undecodable("Pub/Sub message without usable data");
  const text = Buffer.from(data, "base64").toString("utf8");
  const p = safeJsonParse(text);
  return "error" in p ? new Undecodable(`Pub/Sub message data: ${p.error}`) : { value: p.value };
}

/** Deepest nesting a record may have. Kubernetes objects stay far below; JSON.stringify overflows near 5000. */
export const MAX_RECORD_DEPTH = 100;

/**
 * Whether `v` nests deeper than `limit` (iterative, so the check itself cannot overflow the stack).
 * JSON.parse accepts millions of levels, but such a record could not be serialized onto the bus.
 */
export function tooDeep(v: unknown, limit = MAX_RECORD_DEPTH): boolean {
  if (typeof v !== "object" || v === null) return false;
  // Recursion is bounded by `limit` (it stops one level below it), so it cannot overflow the stack, and it
  // allocates nothing, unlike an explicit stack of [value, depth] pairs — this runs on every record twice.
  return deeper(v as object, 1, limit);
}
function deeper(x: object, d: number, limit: number): boolean {
  if (d > limit) return true;
  if (Array.isArray(x)) {
    for (let i = 0; i < x.length; i++) {
      const y = x[i];
      if (typeof y === "object" && y !== null && deeper(y, d + 1, limit)) return true;
    }
    return false;
  }
  // for…in without an own-property filter is ~3× faster than Object.keys here; records are JSON.parse
  // output (Object.prototype has no enumerable keys), and the depth bound holds whatever it visits.
  for (const k in x) {
    const y = (x as Obj)[k];
    if (typeof y === "object" && y !== null && deeper(y, d + 1, limit)) return true;
  }
  return false;
}
export const TOO_DEEP = `record nested deeper than ${MAX_RECORD_DEPTH} levels`;

/**
 * Own-property lookup in a constant table. `table[name]` with a source-controlled name would return
 * Object.prototype for "__proto__" and functions for "constructor" or "toString".
 */
export function lookup<T>(table: Record<string, T>, key: string | number): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}
