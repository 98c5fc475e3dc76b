import { counter } from "@identrail/core";

export const tailerMetrics = {
  lines: counter(
    "identrail_tailer_lines_total",
    "Lines read by the file tailers and acknowledged by the bus",
    ["source"],
  ),
  rotations: counter(
    "identrail_tailer_rotations_total",
    "Rotations seen by the file tailers (rename = new inode, truncate = copytruncate)",
    ["source", "kind"],
  ),
  errors: counter(
    "identrail_tailer_errors_total",
    "File tailer steps that failed and will be retried (bus or file errors)",
    ["source"],
  ),
};
