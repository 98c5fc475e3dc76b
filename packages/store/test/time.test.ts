/** chTime's fast path for canonical text gives exactly what parsing and printing a Date gives. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chTime } from "../src/time";

const viaDate = (v: string | number) => new Date(v).toISOString().replace("T", " ").replace("Z", "");
const outcome = (f: () => string) => {
  try {
    return f();
  } catch (e) {
    return `throws ${(e as Error).name}`;
  }
};

describe("chTime", () => {
  it("canonical text of any instant in years 0000–9999 and the Date path agree", () => {
    fc.assert(
      fc.property(fc.integer({ min: -62_167_219_200_000, max: 253_402_300_799_999 }), (ms) => {
        const iso = new Date(ms).toISOString();
        expect(chTime(iso)).toBe(viaDate(iso));
        expect(chTime(ms)).toBe(viaDate(ms));
      }),
      { numRuns: 2000 },
    );
  });

  it("text that only looks canonical goes the Date path (same answer, or the same error)", () => {
    const cases = [
      "2026-02-29T00:00:00.000Z", // not a leap year
      "2024-02-29T23:59:59.999Z",
      "2100-02-29T00:00:00.000Z",
      "2000-02-29T00:00:00.000Z",
      "2026-04-31T00:00:00.000Z",
      "2026-13-01T00:00:00.000Z",
      "2026-00-10T00:00:00.000Z",
      "2026-11-24T24:00:00.000Z",
      "2026-11-24T10:60:00.000Z",
      "2026-11-24T10:00:60.000Z",
      "2026-11-24T10:00:00.000+", // not Z
      "2026-11-24T10:00:00.00xZ",
      "2026-11-24 10:00:00.000Z",
      "2026-11-24T10:00:00Z",
      "+275760-09-13T00:00:00.000Z",
    ];
    for (const c of cases) expect(outcome(() => chTime(c))).toBe(outcome(() => viaDate(c)));
  });

  it("random strings of the canonical shape agree with the Date path", () => {
    const d = (n: number) => fc.stringMatching(new RegExp(`^[0-9]{${n}}$`));
    fc.assert(
      fc.property(d(4), d(2), d(2), d(2), d(2), d(2), d(3), (y, mo, da, h, mi, s, ms) => {
        const iso = `${y}-${mo}-${da}T${h}:${mi}:${s}.${ms}Z`;
        expect(outcome(() => chTime(iso))).toBe(outcome(() => viaDate(iso)));
      }),
      { numRuns: 3000 },
    );
  });
});
