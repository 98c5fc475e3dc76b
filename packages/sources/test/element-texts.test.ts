/**
 * Record texts of a whole JSON document: every slice must parse to exactly the record JSON.parse built,
 * whatever the spacing, escapes, nesting or duplicate member names, because the collector forwards the
 * slice in place of the record it validated and redacted.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { arrayElementTexts, wholeDocumentTexts } from "../src/element-texts";
import { k8sAudit as k8s } from "../src/index";

const event = (user: string, extra: Record<string, unknown> = {}) => ({
  kind: "Event",
  apiVersion: "audit.k8s.io/v1",
  level: "Metadata",
  auditID: `id-${user}`,
  stage: "ResponseComplete",
  requestURI: "/api/v1/namespaces/ml/secrets/db",
  verb: "get",
  user: { username: `system:serviceaccount:ml:${user}`, groups: ["system:serviceaccounts"] },
  objectRef: { resource: "secrets", namespace: "ml", name: "db", apiVersion: "v1" },
  responseStatus: { metadata: {}, code: 200 },
  requestReceivedTimestamp: "2026-11-20T10:00:00.000000Z",
  stageTimestamp: "2026-11-20T10:00:00.010000Z",
  ...extra,
});

describe("arrayElementTexts", () => {
  it("slices an EventList's items, compact and pretty-printed", () => {
    const doc = {
      kind: "EventList",
      apiVersion: "audit.k8s.io/v1",
      metadata: {},
      items: [event("a"), event("b")],
    };
    for (const text of [JSON.stringify(doc), JSON.stringify(doc, null, 2), JSON.stringify(doc, null, "\t")]) {
      const texts = arrayElementTexts(text, "items");
      expect(texts).toHaveLength(2);
      expect(texts?.map((t) => JSON.parse(t))).toEqual(doc.items);
    }
  });

  it("takes the last of duplicate member names, as JSON.parse does", () => {
    expect(arrayElementTexts('{"items":[1,2],"x":"items","items":[{"a":3}]}', "items")).toEqual(['{"a":3}']);
    // The last occurrence is not an array: JSON.parse's value has no items array, nor do the texts.
    expect(arrayElementTexts('{"items":[1,2],"items":"none"}', "items")).toBeUndefined();
  });

  it("matches a member name written with escapes by its value", () => {
    expect(arrayElementTexts('{"it\\u0065ms":[{"a":1}, 2 ,"x"]}', "items")).toEqual(['{"a":1}', "2", '"x"']);
  });

  it("is not fooled by quotes, backslashes and brackets inside strings", () => {
    const items = [{ s: 'a"b\\', t: "]}{[,:" }, '\\\\"', { u: "\\" }, [], {}, null, -1.5e3, true];
    const text = JSON.stringify({ pre: ['"]'], items, post: { items: "no" } });
    const texts = arrayElementTexts(text, "items");
    expect(texts?.map((t) => JSON.parse(t))).toEqual(items);
  });

  it("handles a top-level array, empty arrays and documents without the member", () => {
    expect(arrayElementTexts(' [ {"a":1} , [2] ] ')).toEqual(['{"a":1}', "[2]"]);
    expect(arrayElementTexts('{"items":[]}', "items")).toEqual([]);
    expect(arrayElementTexts('{"other":[1]}', "items")).toBeUndefined();
    expect(arrayElementTexts("{}", "items")).toBeUndefined();
    expect(arrayElementTexts('{"a":1}')).toBeUndefined();
  });

  it("gives up instead of guessing on text that is not complete JSON", () => {
    expect(arrayElementTexts('{"items":[{"a":"unterminated', "items")).toBeUndefined();
    expect(arrayElementTexts('{"items":[{"a":1}', "items")).toBeUndefined();
  });

  it("property: every slice parses to the element JSON.parse built (any JSON, any spacing)", () => {
    const member = fc.tuple(fc.string({ unit: "binary" }), fc.jsonValue());
    fc.assert(
      fc.property(
        fc.array(member, { maxLength: 4 }),
        fc.array(fc.jsonValue(), { maxLength: 8 }),
        fc.array(member, { maxLength: 4 }),
        fc.constantFrom(undefined, 1, 2, "\t", " \r\n"),
        (before, items, after, space) => {
          // Built as text so that duplicate names (including "items" itself) survive into the document.
          const parts = [...before, ["items", items] as const, ...after].map(
            ([k, v]) =>
              `${JSON.stringify(k)}:${JSON.stringify(v, null, space as string | number | undefined)}`,
          );
          const text = `{${parts.join(typeof space === "string" ? `,${space}` : ",")}}`;
          const doc = JSON.parse(text) as Record<string, unknown>;
          const texts = arrayElementTexts(text, "items");
          if (!Array.isArray(doc.items)) expect(texts).toBeUndefined();
          else {
            expect(texts).toHaveLength(doc.items.length);
            expect(texts?.map((t) => JSON.parse(t))).toEqual(doc.items);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("wholeDocumentTexts and decode", () => {
  it("gives a decoded EventList its records' texts, which parse to the records", () => {
    const text = JSON.stringify(
      { kind: "EventList", apiVersion: "audit.k8s.io/v1", items: [event("a"), event("b")] },
      null,
      1,
    );
    const d = k8s.decode(text);
    expect(d.records).toHaveLength(2);
    expect(d.texts).toHaveLength(2);
    expect(d.texts?.map((t) => JSON.parse(t as string))).toEqual(d.records);
  });

  it("gives none when the records were unwrapped rather than sliced (AKS log strings)", () => {
    const inner = JSON.stringify(event("c"));
    const doc = { records: [{ category: "kube-audit", properties: { log: inner } }] };
    const d = k8s.decode(JSON.stringify(doc));
    expect(d.records).toHaveLength(1);
    expect(d.texts).toBeUndefined();
  });

  it("gives none when the records are not exactly one array's elements", () => {
    const a = { x: 1 };
    const b = { y: 2 };
    expect(wholeDocumentTexts('{"l":[{"x":1},{"y":2}]}', { l: [a, b] }, [b, a])).toBeUndefined();
    expect(wholeDocumentTexts('{"x":1}', { x: 1 }, [{ x: 1 }])).toBeUndefined();
    expect(wholeDocumentTexts("[]", [], [])).toBeUndefined();
  });

  it("forwards a Secret response's redacted record, never its original text", async () => {
    const secret = event("d", {
      level: "RequestResponse",
      responseObject: { kind: "Secret", apiVersion: "v1", data: { password: "aHVudGVyMg==" } },
    });
    const d = k8s.decode(JSON.stringify({ kind: "EventList", items: [event("e"), secret] }));
    expect(d.texts).toHaveLength(2);
    const accepted = k8s.accept(d.records[1]);
    expect(accepted.ok).toBe(true);
    // accept hands back a different (redacted) object, so the collector re-serializes it.
    if (accepted.ok) {
      expect(accepted.value.record).not.toBe(d.records[1]);
      expect(JSON.stringify(accepted.value.record)).not.toContain("aHVudGVyMg==");
    }
  });
});
