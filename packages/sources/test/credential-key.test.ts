/**
 * isCredentialKeyAnyCase folds ASCII case itself instead of calling toLowerCase; these properties pin it
 * to `isCredentialKey(key.toLowerCase())`, non-ASCII keys included (U+212A KELVIN SIGN lower-cases to "k").
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { equalsLowerAscii, isCredentialKey, isCredentialKeyAnyCase } from "../src/common";

const NAMES = [
  "password",
  "X-Amz-Copy-Source",
  "Authorization",
  "X-Amz-Security-Token",
  "token",
  "SessionToken",
  "set-cookie",
];
const reference = (k: string) => isCredentialKey(k.toLowerCase());

describe("isCredentialKeyAnyCase", () => {
  it("agrees with toLowerCase + isCredentialKey on case and Unicode variants of the names", () => {
    const variant = fc
      .tuple(fc.constantFrom(...NAMES), fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }), fc.nat(30))
      .map(([name, flips, at]) => {
        let s = [...name].map((c, i) => (flips[i] ? c.toUpperCase() : c.toLowerCase())).join("");
        // Swap in a character whose lower case is (or is not) ASCII, or cut the name short.
        const swaps = ["\u212A", "\u0130", "\u017F", "é", ""];
        const i = at % (s.length + 1);
        s = s.slice(0, i) + swaps[at % swaps.length] + s.slice(i + 1);
        return s;
      });
    fc.assert(
      fc.property(fc.oneof(variant, fc.string(), fc.string({ unit: "binary", maxLength: 24 })), (k) => {
        expect(isCredentialKeyAnyCase(k)).toBe(reference(k));
        for (const name of ["authorization", "token", "x-amz-copy-source"])
          expect(equalsLowerAscii(k, name)).toBe(k.toLowerCase() === name);
      }),
      { numRuns: 20_000 },
    );
  });

  it("matches the names in any case and the Kelvin-sign spelling of token", () => {
    expect(isCredentialKeyAnyCase("AUTHORIZATION")).toBe(true);
    expect(isCredentialKeyAnyCase("x-amz-SECURITY-token")).toBe(true);
    expect(isCredentialKeyAnyCase("To\u212Aen")).toBe(true);
    expect(isCredentialKeyAnyCase("Content-Type")).toBe(false);
    expect(isCredentialKeyAnyCase("")).toBe(false);
  });
});
