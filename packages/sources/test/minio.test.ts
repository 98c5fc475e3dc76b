import { describe, expect, it } from "vitest";
import { minio } from "../src/sources/minio";
import { fixture, one, run } from "./helpers";

describe("minio parser", () => {
  const r = run(minio, fixture("minio/audit-webhook.ndjson"));

  it("service-account keys map to their parent user; the key is linked", () => {
    expect(r.rejected).toEqual([]);
    const get = r.events[0];
    expect(get.actor.principal).toBe("trainer");
    expect(get.actor.links).toEqual(["minio-user:trainer", "minio-key:svcacct-TRAINER01"]);
    expect(get.actor.credential_id).toBe("svcacct-TRAINER01");
    expect(get).toMatchObject({
      verb: "read",
      bytes_out: 158000,
      status_code: 200,
      src_ip: "192.0.2.90",
      raw_ref: "1800A0000000000A",
    });
    expect(get.resource).toMatchObject({
      uri: "minio://datasets/coco/train2017/000000000009.jpg",
      type: "object",
    });
  });

  it("CopyObject keeps the copy source; 403 is a failure; keys without parent are primary", () => {
    expect(r.events[1].attrs.copy_source).toBe("minio://models/llm/step-1000.pt");
    expect(r.events[2]).toMatchObject({
      outcome: "failure",
      status_code: 403,
      verb: "write",
      bytes_in: 734003200,
      reason: "Forbidden",
    });
    expect(r.events[2].actor.links).toEqual(["minio-key:notebook-user"]);
    expect(r.events[3]).toMatchObject({ verb: "list", resource: { uri: "minio://models/", type: "bucket" } });
  });

  it("pre-2023 entries without accessKey take it from the SigV4 credential", () => {
    const rec = JSON.parse(fixture("minio/audit-webhook.ndjson").split("\n")[0]);
    rec.accessKey = undefined;
    rec.parentUser = undefined;
    const e = one(minio, JSON.stringify(rec));
    expect(e.actor.links).toEqual(["minio-key:svcacct-TRAINER01"]);
  });

  it("accepts arrays (batched webhook) and rejects unknown versions and missing api", () => {
    const lines = fixture("minio/audit-webhook.ndjson")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(run(minio, JSON.stringify(lines)).events).toHaveLength(4);
    const cases: [unknown, RegExp][] = [
      [{ ...lines[0], version: "2" }, /version/],
      [{ ...lines[0], api: undefined }, /missing api/],
      [{ ...lines[0], api: { ...lines[0].api, name: 7 } }, /api\.name/],
      [{ ...lines[0], time: "not a time" }, /timestamp/],
    ];
    for (const [x, re] of cases) {
      const a = minio.accept(x);
      expect(a.ok).toBe(false);
      if (!a.ok) expect(a.error).toMatch(re);
    }
  });

  it("the newest webhook field set (tags, requestClaims, *InNS timings) normalizes; signature and token are redacted", () => {
    const text = fixture("minio/audit-webhook-2024.json");
    const n = run(minio, text);
    expect(n.events).toHaveLength(1);
    expect(n.events[0]).toMatchObject({
      time: "2026-11-20T02:06:00.123Z",
      resource: { uri: "minio://ml-models/llm/step-1000.pt" },
      bytes_out: 1048576,
      bytes_in: 312,
    });
    expect(n.events[0].actor.links).toEqual(["minio-user:ml-trainer", "minio-key:trainerkey01"]);
    const wire = JSON.stringify(n.wire);
    expect(wire).not.toContain("PLANTEDSIGNATURE");
    expect(wire).not.toContain("PLANTED-STS-TOKEN");
    // A shipper that re-types "1" as a number still sends schema version 1.
    expect(run(minio, JSON.stringify({ ...JSON.parse(text), version: 1 })).events).toHaveLength(1);
  });

  it("a qualified handler name (s3.GetObject) keeps its verb", () => {
    const rec = JSON.parse(fixture("minio/audit-webhook-2024.json"));
    const e = one(minio, JSON.stringify({ ...rec, api: { ...rec.api, name: "s3.PutObject" } }));
    expect(e).toMatchObject({ operation: "s3.PutObject", verb: "write" });
  });
});
