/** Bounded metric label from a free-text reason: its text up to the first detail. */
export function reasonLabel(reason: string): string {
  return reason
    .replace(/^line \d+: /, "")
    .split(/[:(]/)[0]
    .trim()
    .slice(0, 48);
}
