import type { ClickHouseClient } from "@clickhouse/client";
import { awsRoleAlias, awsUserAlias, gcpServiceAccountAlias, humanAlias } from "@identrail/core";
import { rows } from "./query";

/**
 * What an analyst may paste: a canonical id, a raw principal as a log names it, a bare role/user ARN,
 * a Google service-account email, an email in any case, or a bare Vault entity / Azure object /
 * MinIO id. Each maps to the alias forms the parsers write.
 */
export function aliasCandidates(input: string): string[] {
  const c = new Set([input, `raw:${input}`]);
  for (const a of [awsRoleAlias(input), awsUserAlias(input), gcpServiceAccountAlias(input)]) if (a) c.add(a);
  if (input.includes("@")) c.add(humanAlias(input));
  if (!input.includes(":"))
    for (const kind of ["vault-entity", "azure-app", "minio-user", "minio-key"]) c.add(`${kind}:${input}`);
  return [...c];
}

/**
 * Resolves a canonical id or any alias (a raw principal such as system:serviceaccount:ns:name, an ARN,
 * an email) to the canonical identity, plus every id its events may be stored under (ids that were
 * canonical before a stronger link re-anchored them).
 */
export async function resolveIdentity(
  ch: ClickHouseClient,
  input: string,
): Promise<{ id: string; storedUnder: string[]; aliases: string[] } | null> {
  const first = await rows<{ identity_id: string }>(
    ch,
    "SELECT identity_id FROM identity_aliases WHERE alias IN {cands:Array(String)} GROUP BY identity_id ORDER BY max(last_seen) DESC, identity_id LIMIT 1",
    { cands: aliasCandidates(input) },
  );
  if (!first.length) return null;
  let id = first[0].identity_id;
  for (let i = 0; i < 3; i++) {
    const next = await rows<{ target: string }>(
      ch,
      "SELECT argMax(identity_id, last_seen) AS target FROM identity_aliases WHERE alias = {a:String} AND identity_id != alias GROUP BY alias",
      { a: id },
    );
    if (!next.length || next[0].target === id) break;
    id = next[0].target;
  }
  const al = await rows<{ alias: string; kind: string }>(
    ch,
    "SELECT alias, any(kind) AS kind FROM identity_aliases WHERE identity_id = {id:String} GROUP BY alias ORDER BY alias",
    { id },
  );
  const aliases = al.map((r) => r.alias).filter((a) => a !== id);
  const storedUnder = [
    id,
    ...al.filter((r) => r.kind !== "raw" && r.kind !== "canonical" && r.alias !== id).map((r) => r.alias),
  ];
  return {
    id,
    storedUnder,
    aliases: aliases
      .map((a) => (a.startsWith("raw:") ? a.slice(4) : a))
      .filter((a, i, xs) => xs.indexOf(a) === i),
  };
}
