/**
 * ClickHouse DateTime64(3) text form in UTC: "2026-11-24 10:00:00.000". Throws RangeError for an
 * invalid time, as Date#toISOString does.
 */
export function chTime(iso: string | number | Date): string {
  // The detector calls this several times per event, nearly always with the canonical text its events
  // carry (Date#toISOString's format, ECMA-262 §21.4.1.32): that text is rewritten in place instead of
  // being parsed into a Date and printed again.
  if (typeof iso === "string" && isCanonicalIso(iso)) return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
  const d = iso instanceof Date ? iso : new Date(iso);
  return d.toISOString().replace("T", " ").replace("Z", "");
}

const DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** `YYYY-MM-DDTHH:mm:ss.sssZ` naming a real instant (year 0000–9999), exactly as toISOString prints it. */
function isCanonicalIso(s: string): boolean {
  if (
    s.length !== 24 ||
    s.charCodeAt(4) !== 45 ||
    s.charCodeAt(7) !== 45 ||
    s.charCodeAt(10) !== 84 ||
    s.charCodeAt(13) !== 58 ||
    s.charCodeAt(16) !== 58 ||
    s.charCodeAt(19) !== 46 ||
    s.charCodeAt(23) !== 90
  )
    return false;
  for (const i of DIGITS) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  const two = (i: number) => (s.charCodeAt(i) - 48) * 10 + s.charCodeAt(i + 1) - 48;
  const year = two(0) * 100 + two(2);
  const month = two(5);
  const day = two(8);
  if (month < 1 || month > 12 || day < 1 || two(11) > 23 || two(14) > 59 || two(17) > 59) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && leap ? 29 : DAYS[month - 1]);
}

/** Back to RFC 3339 from ClickHouse's "YYYY-MM-DD hh:mm:ss.sss" (UTC columns). */
export function isoFromCh(s: string): string {
  return s.includes("T") ? s : `${s.replace(" ", "T")}Z`;
}
