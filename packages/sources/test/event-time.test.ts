/**
 * eventTime returns RFC 3339 UTC strings without building a Date for the common shapes; these
 * properties pin that shortcut to what `new Date(Date.parse(v)).toISOString()` gives, rollovers included.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { eventTime } from "../src/util";

const NOW = Date.UTC(2026, 10, 24);
const pad = (n: number, w: number) => String(n).padStart(w, "0");
const reference = (v: string) => new Date(Date.parse(v)).toISOString();

describe("eventTime", () => {
  it("matches Date.parse + toISOString for RFC 3339 UTC strings of every fraction length", () => {
    fc.assert(
      fc.property(
        fc.record({
          y: fc.integer({ min: 2000, max: 2026 }),
          mo: fc.integer({ min: 0, max: 13 }),
          d: fc.integer({ min: 0, max: 32 }),
          h: fc.integer({ min: 0, max: 25 }),
          mi: fc.integer({ min: 0, max: 60 }),
          s: fc.integer({ min: 0, max: 60 }),
          frac: fc.stringMatching(/^[0-9]{0,9}$/),
          zone: fc.constantFrom("Z", "+00:00", "-00:00", "+02:00", "-05:30"),
        }),
        ({ y, mo, d, h, mi, s, frac, zone }) => {
          const v = `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}${frac ? `.${frac}` : ""}${zone}`;
          const got = eventTime(v, NOW);
          const ms = Date.parse(v);
          if (Number.isNaN(ms) || ms < Date.UTC(2000, 0, 1) || ms > NOW + 86_400_000)
            expect("error" in got).toBe(true);
          else expect(got).toEqual({ time: reference(v) });
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it("matches Date.parse over every year the field-by-field path reads (1000–9999)", () => {
    const LATE = Date.UTC(9999, 11, 31);
    fc.assert(
      fc.property(
        fc.date({ min: new Date(Date.UTC(1000, 0, 1)), max: new Date(LATE), noInvalidDate: true }),
        fc.integer({ min: 0, max: 9 }),
        fc.constantFrom("Z", "+00:00"),
        (date, digits, zone) => {
          const iso = date.toISOString();
          const frac = digits
            ? `.${`${iso.slice(20, 23)}${pad(Math.abs(date.getTime()) % 997, 6)}`.slice(0, digits)}`
            : "";
          const v = `${iso.slice(0, 19)}${frac}${zone}`;
          const got = eventTime(v, LATE);
          if (Date.parse(v) < Date.UTC(2000, 0, 1)) expect("error" in got).toBe(true);
          else expect(got).toEqual({ time: reference(v) });
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it("rolls over like Date does where the fields overflow", () => {
    expect(eventTime("2026-02-30T00:00:00Z", NOW)).toEqual({ time: "2026-03-02T00:00:00.000Z" });
    expect(eventTime("2025-02-29T00:00:00Z", NOW)).toEqual({ time: "2025-03-01T00:00:00.000Z" });
    expect(eventTime("2100-02-29T00:00:00Z", Date.UTC(2200, 0))).toEqual({
      time: "2100-03-01T00:00:00.000Z",
    });
    expect(eventTime("2026-04-31T00:00:00Z", NOW)).toEqual({ time: "2026-05-01T00:00:00.000Z" });
    expect(eventTime("2024-02-29T19:39:25.744431903Z", NOW)).toEqual({ time: "2024-02-29T19:39:25.744Z" });
    expect(eventTime("2000-02-29T00:00:00Z", NOW)).toEqual({ time: "2000-02-29T00:00:00.000Z" });
    expect(eventTime("2021-12-31T23:59:59.9Z", NOW)).toEqual({ time: "2021-12-31T23:59:59.900Z" });
    expect(eventTime("2026-01-31T24:00:00Z", NOW)).toEqual({ time: "2026-02-01T00:00:00.000Z" });
    expect(eventTime("2026-01-01T10:00:00.123456789Z", NOW)).toEqual({ time: "2026-01-01T10:00:00.123Z" });
    expect(eventTime("2026-01-01T10:00:00.1Z", NOW)).toEqual({ time: "2026-01-01T10:00:00.100Z" });
    expect(eventTime("2026-01-01T10:00:00+02:00", NOW)).toEqual({ time: "2026-01-01T08:00:00.000Z" });
    expect(eventTime("2019-02-06T00:00:38+00:00", NOW)).toEqual({ time: "2019-02-06T00:00:38.000Z" });
    expect(eventTime("2026-01-01T10:00:00.12-00:00", NOW)).toEqual({ time: "2026-01-01T10:00:00.120Z" });
  });
});
