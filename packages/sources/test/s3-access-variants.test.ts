/**
 * S3 server access log lines as S3 writes them in the wild: IPv6 remote IPs, ranged GETs, keys encoded
 * with `%20`, `+`, `%2B`, `%2F` and UTF-8, every multipart / copy / multi-object-delete operation, the
 * static website endpoint, lifecycle, access points, the root user and STS federated users as
 * requesters, user agents with unescaped quotes, 18-field legacy lines and lines with future fields.
 * Written from https://docs.aws.amazon.com/AmazonS3/latest/userguide/LogFormat.html; redacted.
 */
import { describe, expect, it } from "vitest";
import { s3Access, tokenizeS3Line } from "../src/sources/s3-access";
import { fixture, run } from "./helpers";

describe("s3-access: real-world line variants", () => {
  const r = run(s3Access, fixture("s3-access/real-world-variants.log"));
  const op = (name: string, i = 0) => r.events.filter((e) => e.operation === name)[i];

  it("every line is one event", () => {
    expect(r.decodeErrors).toEqual([]);
    expect(r.rejected).toEqual([]);
    expect(r.events).toHaveLength(19);
  });

  it("ranged GET over IPv6 by an IRSA role session: role alias, UTF-8 key, bytes sent", () => {
    const e = r.events[0];
    expect(e).toMatchObject({
      verb: "read",
      status_code: 206,
      outcome: "success",
      bytes_out: 8388608,
      src_ip: "2001:db8::30",
      resource: { uri: "s3://ml-features-example/features/2026/11/20/part 0001é.parquet", type: "object" },
    });
    expect(e.actor).toMatchObject({ type: "cloud_role", links: ["aws-role:123456789012:ml-batch-irsa"] });
    expect(e.attrs.object_size).toBe("268435456");
  });

  it("keys: + is a space, %2B a plus, %2F a slash", () => {
    expect(op("REST.HEAD.OBJECT").resource.name).toBe("reports/Q3 summary+final/v2.pdf");
    expect(op("BATCH.DELETE.OBJECT")).toMatchObject({
      verb: "delete",
      resource: { uri: "s3://ml-scratch-example/tmp/a b.txt" },
    });
  });

  it("multipart: initiate is other, parts carry the bytes, completing adds none (the parts already did)", () => {
    expect(op("REST.POST.UPLOADS").verb).toBe("other");
    expect(op("REST.PUT.PART")).toMatchObject({ verb: "write", bytes_in: 16777216 });
    expect(op("REST.POST.UPLOAD")).toMatchObject({ verb: "write", bytes_in: 0 });
    expect(op("REST.POST.UPLOAD").attrs.object_size).toBe("50331648");
    // ListParts is a listing.
    expect(op("REST.GET.UPLOAD").verb).toBe("list");
  });

  it("server-side copies: the destination is a write, both source sides (object and part) are reads", () => {
    expect(op("REST.COPY.OBJECT")).toMatchObject({
      verb: "write",
      resource: { name: "handoff/step-2000.pt" },
    });
    expect(op("REST.COPY.OBJECT_GET")).toMatchObject({
      verb: "read",
      resource: { name: "ckpt/step-2000.pt" },
    });
    expect(op("REST.COPY.OBJECT_GET").attrs.version_id).toBe("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY");
    expect(op("REST.COPY.PART_GET").verb).toBe("read");
  });

  it("multi-object delete and version listing target the bucket", () => {
    expect(op("REST.POST.MULTI_OBJECT_DELETE")).toMatchObject({
      verb: "delete",
      resource: { uri: "s3://ml-scratch-example/", type: "bucket" },
    });
    expect(op("REST.GET.BUCKETVERSIONS")).toMatchObject({ verb: "list", resource: { type: "bucket" } });
  });

  it("user agents with unescaped quotes do not shift the columns after them", () => {
    const bot = op("REST.GET.OBJECT", 1);
    expect(bot.user_agent).toBe(
      'Mozilla/5.0 (compatible; "ExampleBot" 2.1; +https://www.example.com/bot) "quoted" end',
    );
    expect(bot.attrs).toMatchObject({
      referer: "https://www.example.com/a?b=1",
      signature_version: "SigV4",
      host_header: "ml-features-example.s3.us-east-1.amazonaws.com",
    });
    expect(bot.attrs.version_id).toBeUndefined();
    const ipad = op("REST.GET.OBJECT", 2);
    expect(ipad.user_agent).toMatch(/Safari\/604\.1"$/);
    expect(ipad).toMatchObject({ status_code: 304, outcome: "success" });
  });

  it("static website endpoint GETs are reads", () => {
    expect(op("WEBSITE.GET.OBJECT")).toMatchObject({
      verb: "read",
      bytes_out: 1500,
      resource: { uri: "s3://ml-site-example/index.html" },
    });
  });

  it("root via an access point, with trailing future fields; federated user denied", () => {
    const root = op("REST.GET.OBJECT", 3);
    expect(root.actor).toMatchObject({ type: "human", links: ["aws-user:123456789012:root"] });
    expect(root.src_ip).toBe("2001:db8:0:1::7");
    expect(root.attrs).toMatchObject({
      access_point_arn: "arn:aws:s3:us-east-1:123456789012:accesspoint/features-ap",
      acl_required: "Yes",
    });
    const fed = op("REST.PUT.OBJECT");
    expect(fed.actor).toMatchObject({ type: "human", links: ["aws-federated:123456789012:build-bot"] });
    expect(fed).toMatchObject({ outcome: "failure", status_code: 403, reason: "AccessDenied" });
  });

  it("lifecycle delete markers are deletes by S3 itself, with no HTTP status", () => {
    expect(op("S3.CREATE.DELETEMARKER")).toMatchObject({
      verb: "delete",
      outcome: "unknown",
      actor: { links: ["aws-service:AmazonS3"] },
    });
  });

  it("legacy 18-field lines (ending at the version id) still parse", () => {
    expect(r.events[18]).toMatchObject({
      time: "2019-03-05T10:00:00.000Z",
      resource: { uri: "s3://ml-legacy-example/a.txt" },
      user_agent: "aws-cli/1.16",
    });
  });

  it("tokenizer: quoted fields close where the next columns have their documented shape", () => {
    const head = "o b [t] ip r id OP k";
    // A `" ` inside the Request-URI is not its end: the HTTP status must follow.
    expect(tokenizeS3Line(`${head} "GET /a" b HTTP/1.1" 200 -`)).toEqual([
      ..."o b t ip r id OP k".split(" "),
      'GET /a" b HTTP/1.1',
      "200",
      "-",
    ]);
    // With no candidate fitting, the first close wins (as before).
    expect(tokenizeS3Line('a "b" c" d')).toEqual(["a", "b", 'c"', "d"]);
  });
});
