/**
 * Bad input for every parser: each case gets a clear error or a rejection with its reason, valid
 * records in the same body still go through, and nothing throws.
 */
import { describe, expect, it } from "vitest";
import { MAX_RECORD_DEPTH } from "../src/common";
import { parsers } from "../src/index";
import type { SourceParser } from "../src/types";
import { CTX, fixture, run } from "./helpers";

/** One valid record per parser (a line for the text format), and how to set its time field. */
const SAMPLES: Record<
  string,
  { parser: SourceParser; good: () => string; setTime: (rec: string, t: string | undefined) => string }
> = {
  "k8s-audit": {
    parser: parsers["k8s-audit"] as SourceParser,
    good: () => JSON.stringify(JSON.parse(fixture("k8s-audit/webhook-eventlist.json")).items[1]),
    setTime: (r, t) => JSON.stringify({ ...JSON.parse(r), requestReceivedTimestamp: t, stageTimestamp: t }),
  },
  vault: {
    parser: parsers.vault as SourceParser,
    good: () => fixture("vault/k8s-auth-session.ndjson").split("\n")[3],
    setTime: (r, t) => JSON.stringify({ ...JSON.parse(r), time: t }),
  },
  cloudtrail: {
    parser: parsers.cloudtrail as SourceParser,
    good: () => JSON.stringify(JSON.parse(fixture("cloudtrail/irsa-records.json")).Records[1]),
    setTime: (r, t) => JSON.stringify({ ...JSON.parse(r), eventTime: t }),
  },
  "gcp-audit": {
    parser: parsers["gcp-audit"] as SourceParser,
    good: () => fixture("gcp-audit/gcs-data-access.ndjson").split("\n")[0],
    setTime: (r, t) => JSON.stringify({ ...JSON.parse(r), timestamp: t }),
  },
  "azure-keyvault": {
    parser: parsers["azure-keyvault"] as SourceParser,
    good: () => JSON.stringify(JSON.parse(fixture("azure-keyvault/secret-ops.json")).records[0]),
    setTime: (r, t) => JSON.stringify({ ...JSON.parse(r), time: t }),
  },
  minio: {
    parser: parsers.minio as SourceParser,
    good: () => fixture("minio/audit-webhook.ndjson").split("\n")[0],
    setTime: (r, t) => JSON.stringify({ ...JSON.parse(r), time: t }),
  },
};

function deep(n: number): unknown {
  let v: unknown = { leaf: true };
  for (let i = 0; i < n; i++) v = { a: [v] };
  return v;
}

describe.each(Object.entries(SAMPLES))("bad input: %s", (_name, { parser, good, setTime }) => {
  it("the sample is valid", () => {
    expect(run(parser, good()).events.length).toBeGreaterThan(0);
  });

  it("NDJSON with a broken last line: the valid lines go through, the broken one is reported", () => {
    const g = good();
    const r = run(parser, `${g}\n${g}\n${g.slice(0, Math.floor(g.length / 2))}`);
    expect(r.events.length).toBeGreaterThanOrEqual(2);
    expect(r.decodeErrors).toEqual(["line 3: malformed JSON"]);
  });

  it("timestamps missing, in 1970, far future, absurd: rejected with the reason", () => {
    const cases: [string | undefined, RegExp][] = [
      [undefined, /missing or unparseable/],
      ["1970-01-01T00:00:00Z", /before 2000/],
      ["2999-01-01T00:00:00Z", /future/],
      ["x".repeat(100), /missing or unparseable/],
    ];
    for (const [t, re] of cases) {
      const r = run(parser, setTime(good(), t));
      expect(r.events).toHaveLength(0);
      expect([...r.rejected, ...r.failed].join("|")).toMatch(re);
    }
  });

  it("deep nesting inside a record is rejected, not serialized or recursed into", () => {
    const rec = JSON.parse(good());
    rec.extra = deep(400); // 800 levels: far past the limit, still serializable by the test itself
    const text = JSON.stringify(rec);
    const r = run(parser, `${text}\n${good()}`);
    expect(r.rejected).toContain(`record nested deeper than ${MAX_RECORD_DEPTH} levels`);
    expect(r.events.length).toBeGreaterThan(0);
    expect(parser.redact?.(JSON.parse(text))).toEqual({
      redacted: `record nested deeper than ${MAX_RECORD_DEPTH} levels`,
    });
    // A body that is one huge nest: a clear decode or accept error, no throw.
    const nest = `${"[".repeat(200_000)}${"]".repeat(200_000)}`;
    const d = run(parser, nest);
    expect(d.events).toHaveLength(0);
    expect(d.decodeErrors.length + d.rejected.length).toBeGreaterThan(0);
  });

  it("huge strings are truncated to the schema's limits", () => {
    const rec = JSON.parse(good());
    const huge = "h".repeat(2_000_000);
    // Put the huge string in every top-level string field that is not the time.
    for (const k of Object.keys(rec))
      if (typeof rec[k] === "string" && !/time/i.test(k)) rec[k] = `${rec[k]}${huge}`;
    rec.userAgent = huge;
    rec.huge = huge;
    const r = run(parser, JSON.stringify(rec));
    for (const e of r.events) expect(JSON.stringify(e).length).toBeLessThan(200_000);
    expect(r.events.length + r.rejected.length + r.failed.length).toBeGreaterThan(0);
  });

  it("__proto__ keys neither pollute prototypes nor get lost as prototypes", () => {
    const g = good();
    const text = `{"__proto__":{"polluted":"yes","user":{"username":"x"}},${g.slice(1)}`;
    const r = run(
      parser,
      text.replace(
        /"(auth|api|protoPayload|userIdentity|identity|user)":\{/,
        '"$1":{"__proto__":{"polluted":"yes"},',
      ),
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
    expect(r.events.length + r.rejected.length).toBeGreaterThan(0);
    for (const w of r.wire) expect(Object.getPrototypeOf(w)).toBe(Object.prototype);
  });

  it("integers past 2^53 in numeric fields stay within the schema", () => {
    const big = "123456789012345678901234567890";
    const text = good()
      .replace(
        /("(?:statusCode|httpStatusCode|code|bytesTransferredOut|rx|tx|remote_port|durationSeconds)":)\s*-?\d+/g,
        `$1${big}`,
      )
      .replace(/}\s*$/, `,"bigint":${big}}`);
    const r = run(parser, text);
    expect(r.events.length + r.rejected.length + r.failed.length).toBeGreaterThan(0);
    for (const e of r.events) {
      expect(Number.isSafeInteger(e.bytes_in) && Number.isSafeInteger(e.bytes_out)).toBe(true);
      expect(e.status_code).toBeGreaterThanOrEqual(0);
      expect(e.status_code).toBeLessThanOrEqual(999);
    }
  });

  it("non-objects, empty bodies and garbage are reported, never thrown", () => {
    for (const body of [
      "",
      "   ",
      "null",
      "42",
      '"str"',
      "[]",
      "[1,2]",
      "{",
      "\u0000\u0001",
      "not json at all\nnor this",
    ]) {
      const r = run(parser, body);
      expect(r.events).toHaveLength(0);
    }
    expect(parser.decode("").errors[0].reason).toBe("empty body");
    const n = parser.normalize(undefined, CTX);
    expect(n.ok).toBe(false);
  });
});

describe("bad input: s3-access", () => {
  const p = parsers["s3-access"] as SourceParser;
  const good = fixture("s3-access/ml-bucket.log").split("\n")[0];
  it("broken last line, garbage, huge lines, far-future times, huge numbers", () => {
    const r = run(
      p,
      [
        good,
        good.replace("[20/Nov/2026:02:30:00 +0000]", "[20/Nov/2999:02:30:00 +0000]"),
        `${"x ".repeat(40_000)}`,
        good.replace(" 104857600 104857600 ", " 123456789012345678901234567890 99999999999999999999999 "),
        good.slice(0, 120),
      ].join("\n"),
    );
    expect(r.events).toHaveLength(2);
    expect(r.events[1].bytes_out).toBe(Number.MAX_SAFE_INTEGER);
    expect(r.rejected).toEqual(["timestamp more than 24h in the future"]);
    expect(r.decodeErrors).toHaveLength(2);
    expect(p.decode("").errors[0].reason).toBe("empty body");
  });
});
