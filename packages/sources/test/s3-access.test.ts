import { describe, expect, it } from "vitest";
import { s3Access, s3Time, tokenizeS3Line } from "../src/sources/s3-access";
import { fixture, run } from "./helpers";

describe("s3-access parser", () => {
  const r = run(s3Access, fixture("s3-access/ml-bucket.log"));

  it("parses quoted, bracketed and '-' fields with 24 to 28 columns", () => {
    expect(r.decodeErrors).toEqual([]);
    expect(r.rejected).toEqual([]);
    expect(r.events).toHaveLength(5);
  });

  it("GET object by an assumed role: alias, URL-decoded key, bytes sent, object size", () => {
    const e = r.events[0];
    expect(e.actor.links).toEqual(["aws-role:123456789012:ml-train-s3"]);
    expect(e.resource).toMatchObject({
      uri: "s3://ml-datasets-example/imagenet/train/shard 00042.tar",
      type: "object",
    });
    expect(e).toMatchObject({
      verb: "read",
      bytes_out: 104857600,
      status_code: 200,
      outcome: "success",
      src_ip: "192.0.2.10",
      raw_ref: "3E57427F3EXAMPLE",
    });
    expect(e.attrs.object_size).toBe("104857600");
    expect(e.time).toBe("2026-11-20T02:30:00.000Z");
  });

  it("anonymous presigned request denied; the query's token and signature are gone", () => {
    const e = r.events[1];
    expect(e.actor.principal).toBe("anonymous");
    expect(e).toMatchObject({ outcome: "failure", status_code: 403, reason: "AccessDenied" });
    expect(e.attrs.request_uri).not.toMatch(/PLANTED/);
    expect(e.attrs.request_uri).toMatch(/X-Amz-Credential=ASIAEXAMPLEEXAMPLE01/);
  });

  it("PUT by an IAM user with escaped quotes in the user agent and extra trailing fields", () => {
    const e = r.events[2];
    expect(e.actor.links).toEqual(["aws-user:123456789012:ci-bot"]);
    expect(e).toMatchObject({ verb: "write", bytes_in: 734003200 });
    expect(e.user_agent).toBe('aws-cli/2.17.60 \\"quoted\\" md/arch#x86_64');
    expect(e.attrs.source_region).toBe("us-east-1");
  });

  it("copy source side is a read; bucket listing is a list on the bucket", () => {
    expect(r.events[3]).toMatchObject({ verb: "read", operation: "REST.COPY.OBJECT_GET" });
    expect(r.events[4]).toMatchObject({
      verb: "list",
      resource: { uri: "s3://ml-models-example/", type: "bucket" },
    });
  });

  it("reports short, unterminated and undated lines; keeps the good ones", () => {
    const good = fixture("s3-access/ml-bucket.log").split("\n")[0];
    const text = [
      good,
      "owner bucket [20/Nov/2026:02:30:00 +0000] 192.0.2.1 - id REST.GET.OBJECT",
      good.slice(0, good.indexOf(" HTTP/1.1")),
      good.replace("[20/Nov/2026:02:30:00 +0000]", "[20/Nov/1970:02:30:00 +0000]"),
      good.replace("[20/Nov/2026:02:30:00 +0000]", "[garbage]"),
    ].join("\n");
    const x = run(s3Access, text);
    expect(x.events).toHaveLength(1);
    expect(x.decodeErrors.some((m) => /line 2: \d+ fields, want at least 18/.test(m))).toBe(true);
    // A truncated last line (cut inside the quoted Request-URI) is an error, not a shifted record.
    expect(x.decodeErrors).toContain("line 3: unterminated quoted field");
    expect(x.rejected).toContain("timestamp before 2000-01-01");
    expect(x.rejected).toContain("missing or unparseable timestamp");
    expect(x.decodeErrors.length + x.rejected.length).toBe(4);
  });

  it("tokenizer and time helpers", () => {
    expect(tokenizeS3Line('a "b c" [d e] -')).toEqual(["a", "b c", "d e", "-"]);
    expect(tokenizeS3Line('a "b c')).toEqual({ error: "unterminated quoted field" });
    expect(s3Time("06/Feb/2019:00:00:38 +0000")).toBe("2019-02-06T00:00:38+00:00");
    expect(s3Time("06/Foo/2019:00:00:38 +0000")).toBeUndefined();
  });
});
