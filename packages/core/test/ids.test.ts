import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stableId } from "../src/ids";

/** The original definition: a sha256 Hash fed each part and a NUL separator. Ids must never change. */
function reference(...parts: (string | number)[]) {
  const h = createHash("sha256");
  for (const p of parts) {
    h.update(String(p));
    h.update("\u0000");
  }
  return h.digest("hex").slice(0, 32);
}

describe("stableId", () => {
  it("is stable and equal to the reference definition", () => {
    expect(stableId("k8s-audit", "abc", "ResponseComplete")).toBe(
      reference("k8s-audit", "abc", "ResponseComplete"),
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.integer())), (parts) => {
        expect(stableId(...parts)).toBe(reference(...parts));
      }),
    );
  });
});
