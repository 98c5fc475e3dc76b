/**
 * Read positions of the file tailers, one JSON file per tailed path under `<data_dir>/tailer/`.
 * Written atomically (temp file, fsync, rename) and only after the bus acknowledged the lines before
 * `offset`, so a crash between the two re-reads at most the last batch and never skips one.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

export const TailPosition = z.object({
  v: z.literal(1),
  path: z.string(),
  dev: z.number(),
  ino: z.number(),
  offset: z.number().int().nonnegative(),
  /** sha256 of the first `fp_len` bytes (at most FINGERPRINT_BYTES): tells a rewritten file from the one we read. */
  fp: z.string(),
  fp_len: z.number().int().nonnegative(),
  /** The bytes at `offset` continue a line longer than the batch cap that is being skipped. */
  skip: z.boolean().default(false),
});
export type TailPosition = z.infer<typeof TailPosition>;

export const FINGERPRINT_BYTES = 1024;

export function positionFile(stateDir: string, path: string): string {
  return join(stateDir, `${createHash("sha256").update(path).digest("hex").slice(0, 24)}.json`);
}

/** The saved position, or null when none was saved (or it is unreadable: start over rather than guess). */
export function loadPosition(file: string, path: string): TailPosition | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return null;
  }
  try {
    const p = TailPosition.safeParse(JSON.parse(text));
    return p.success && p.data.path === path ? p.data : null;
  } catch {
    return null;
  }
}

export async function savePosition(file: string, pos: TailPosition): Promise<void> {
  mkdirSync(join(file, ".."), { recursive: true });
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, "w", 0o600);
  try {
    await fh.writeFile(JSON.stringify(pos));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}
