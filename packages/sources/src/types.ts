import type { Result } from "@identrail/core";
import type { NormalizedEvent, SourceName } from "@identrail/schema";

export interface DecodeError {
  /** Position of the record in the request (0-based line or array index). */
  index: number;
  reason: string;
  /** Redacted, truncated copy of what could be recovered, for the dead-letter store. */
  payload?: string;
}

export interface DecodeResult {
  records: unknown[];
  errors: DecodeError[];
  /**
   * `texts[i]`, when set, is record i's own JSON text: the record is one whole input line (NDJSON), or
   * one element of the whole document's records array (element-texts.ts), and `JSON.parse(texts[i])`
   * builds the same value. The collector forwards that text instead of re-serializing the record
   * when `accept` hands the same object back (nothing redacted: `accept` never modifies its input).
   */
  texts?: (string | undefined)[];
}

export interface Accepted {
  /** Kafka key: the source principal, so one identity's events stay ordered on one partition. */
  key: string;
  /** The record with secret material removed; this is what leaves the collector. */
  record: unknown;
}

export interface NormalizeContext {
  cluster: string;
  receivedAt: string;
  /**
   * Vault only: Kubernetes auth mount → cluster name (`vault.kubernetes_auth_clusters` in the config,
   * e.g. {"auth/k8s-eu/": "prod-eu"}), for a Vault that serves several clusters; `cluster` otherwise.
   */
  vaultAuthClusters?: Readonly<Record<string, string>>;
}

export interface Normalized {
  events: NormalizedEvent[];
  /** Set when the record is valid but deliberately produces no event (e.g. RequestReceived stage). */
  skipped?: string;
}

export interface SourceParser {
  readonly source: SourceName;
  /** Body content types this parser accepts on its ingest endpoint. */
  readonly contentTypes: readonly string[];
  /** Split a request body or file chunk (UTF-8 text) into records. Never throws. */
  decode(text: string): DecodeResult;
  /** Cheap structural validation and redaction at the collector. Never throws. */
  accept(record: unknown): Result<Accepted, string>;
  /** Best-effort redaction of a record that failed `accept`, for its dead-letter payload. */
  redact?(record: unknown): unknown;
  /** Full normalization in the detector. Never throws. */
  normalize(record: unknown, ctx: NormalizeContext): Result<Normalized, string>;
}
