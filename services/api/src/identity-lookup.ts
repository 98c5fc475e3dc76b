import type { ClickHouseClient } from "@clickhouse/client";
import { awsRoleAlias, awsUserAlias, gcpServiceAccountAlias, humanAlias } from "@identrail/core";
import { iso, rows } from "./query";
import { TtlCache } from "./ttl-cache";

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
export type ResolvedIdentity = { id: string; storedUnder: string[]; aliases: string[] };

/**
 * Resolution costs three small queries; an analyst paging a timeline or a dashboard polling asks the
 * same id many times a second. Known identities are cached briefly (links change rarely and a second
 * of staleness only delays a re-anchoring); unknown ones are never cached, so a new identity is found
 * as soon as it is stored.
 */
const RESOLVE_TTL_MS = 1000;
/**
 * Per store. Concurrent misses for one id share one resolution (when an entry expires under load, every
 * request for that id would otherwise run the same three queries, queued one after another on embedded
 * chDB: a latency spike every TTL).
 */
const resolveCache = new WeakMap<ClickHouseClient, TtlCache<ResolvedIdentity | null>>();

export function resolveIdentity(ch: ClickHouseClient, input: string): Promise<ResolvedIdentity | null> {
  let cache = resolveCache.get(ch);
  if (!cache)
    resolveCache.set(
      ch,
      (cache = new TtlCache(RESOLVE_TTL_MS, { maxWeight: 10_000, keep: (v) => v !== null })),
    );
  return cache.get(input, () => resolveIdentityUncached(ch, input));
}

async function resolveIdentityUncached(
  ch: ClickHouseClient,
  input: string,
): Promise<ResolvedIdentity | null> {
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

/** Descriptive fields of an identity from `identities` (FINAL); defaults when the detector has none yet. */
export async function identityProfile(ch: ClickHouseClient, id: string) {
  const [r] = await rows<Record<string, string | null>>(
    ch,
    "SELECT type, display_name, cluster, namespace, environment, owner, purpose, expires_at FROM identities FINAL WHERE id = {id:String} LIMIT 1",
    { id },
  );
  return {
    type: r?.type || "unknown",
    display_name: r?.display_name ?? "",
    cluster: r?.cluster ?? "",
    namespace: r?.namespace ?? "",
    environment: r?.environment ?? "",
    owner: r?.owner ?? "",
    purpose: r?.purpose ?? "",
    expires_at: r?.expires_at ? iso(r.expires_at) : null,
  };
}

/**
 * Open alerts per identity id (an alert with no alert_state row is open), for the ids given; callers
 * sum over the ids an identity's alerts may be stored under.
 */
export async function openAlertCounts(ch: ClickHouseClient, ids: string[]): Promise<Map<string, number>> {
  const open = new Map<string, number>();
  if (!ids.length) return open;
  for (const r of await rows<{ identity_id: string; n: string }>(
    ch,
    "SELECT a.identity_id AS identity_id, count() AS n FROM (SELECT id, identity_id FROM alerts FINAL WHERE identity_id IN {ids:Array(String)}) AS a " +
      "LEFT JOIN (SELECT alert_id, argMax(status, version) AS status FROM alert_state GROUP BY alert_id) AS s ON s.alert_id = a.id " +
      "WHERE s.status = '' OR s.status = 'open' GROUP BY a.identity_id",
    { ids },
  ))
    open.set(r.identity_id, Number(r.n));
  return open;
}

/**
 * The current canonical id for ids that were canonical when a row was written (alerts keep the id
 * their identity had at detection time; a stronger link may have re-anchored it since). Follows the
 * same re-anchoring hops as resolveIdentity; ids that were never re-anchored map to themselves.
 */
export async function canonicalIds(ch: ClickHouseClient, ids: string[]): Promise<Map<string, string>> {
  const out = new Map(ids.map((id) => [id, id]));
  let pending = [...new Set(ids)];
  for (let hop = 0; hop < 3 && pending.length; hop++) {
    const moved = await rows<{ alias: string; target: string }>(
      ch,
      "SELECT alias, argMax(identity_id, last_seen) AS target FROM identity_aliases WHERE alias IN {a:Array(String)} AND identity_id != alias GROUP BY alias",
      { a: pending },
    );
    const next = new Map(moved.filter((m) => m.target !== m.alias).map((m) => [m.alias, m.target]));
    for (const [id, now] of out) if (next.has(now)) out.set(id, next.get(now)!);
    pending = [...new Set(next.values())];
  }
  return out;
}
