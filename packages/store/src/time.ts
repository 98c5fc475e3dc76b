/** ClickHouse DateTime64(3) text form in UTC: "2026-11-24 10:00:00.000". */
export function chTime(iso: string | number | Date): string {
  const d = iso instanceof Date ? iso : new Date(iso);
  return d.toISOString().replace("T", " ").replace("Z", "");
}
/** Back to RFC 3339 from ClickHouse's "YYYY-MM-DD hh:mm:ss.sss" (UTC columns). */
export function isoFromCh(s: string): string {
  return s.includes("T") ? s : `${s.replace(" ", "T")}Z`;
}
