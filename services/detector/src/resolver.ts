/**
 * Identity resolution: every event's actor is mapped to one canonical identity. Parsers put the actor's
 * primary alias first in `actor.links`, followed by aliases the event itself proves are the same identity
 * (Vault kubernetes-auth metadata, IRSA web-identity subjects, inventory annotations). Links persist in
 * ClickHouse (identity_aliases) so every detector instance and the API resolve the same way.
 */
import type { ClickHouseClient } from "@clickhouse/client";
import { anchorRank, logger } from "@identrail/core";
import type { NormalizedEvent } from "@identrail/schema";
import { chTime } from "@identrail/store";

export interface AliasRow {
  alias: string;
  identity_id: string;
  kind: string;
  origin: string;
  first_seen: string;
  last_seen: string;
}

export function fallbackAlias(e: NormalizedEvent): string {
  return `unknown:${e.source}:${e.actor.principal}`;
}

export class IdentityResolver {
  private map = new Map<string, string>();
  private loadedAt = 0;

  constructor(
    private readonly ch: ClickHouseClient | undefined,
    configLinks: string[][] = [],
    private readonly refreshMs = 10_000,
  ) {
    for (const group of configLinks) {
      const anchor = [...group].sort((a, b) => anchorRank(b) - anchorRank(a))[0];
      for (const a of group) this.map.set(a, anchor);
    }
  }

  /** Refreshes links written by other instances; cheap when called often (rate limited). */
  async refresh(force = false) {
    if (!this.ch || (!force && Date.now() - this.loadedAt < this.refreshMs)) return;
    this.loadedAt = Date.now();
    try {
      const rs = await this.ch.query({
        query:
          "SELECT alias, argMax(identity_id, last_seen) AS target FROM identity_aliases WHERE alias != identity_id GROUP BY alias",
        format: "JSONEachRow",
      });
      for (const r of (await rs.json()) as { alias: string; target: string }[]) {
        // Config links are authoritative and never overridden by learned ones.
        if (!this.map.has(r.alias) || anchorRank(r.target) >= anchorRank(this.map.get(r.alias)!))
          this.map.set(r.alias, r.target);
      }
    } catch (e) {
      logger.warn({ err: (e as Error).message }, "alias refresh failed; using cached links");
    }
  }

  canonicalOf(alias: string): string {
    let cur = alias;
    // Follow chains (role → SA) a few hops; cycles cannot loop forever.
    for (let i = 0; i < 4; i++) {
      const next = this.map.get(cur);
      if (!next || next === cur) break;
      cur = next;
    }
    return cur;
  }

  /**
   * Drops links learned from rows that were not persisted (their round failed), so that the records,
   * when they come again, emit them again. Links learned since from other rows are kept.
   */
  forget(rows: AliasRow[]) {
    for (const r of rows) if (this.map.get(r.alias) === r.identity_id) this.map.delete(r.alias);
  }

  /** Sets `identity_id` on the event and returns alias rows to persist (only new or changed links). */
  resolve(e: NormalizedEvent): AliasRow[] {
    const aliases = e.actor.links.length ? e.actor.links : [fallbackAlias(e)];
    let canonical = this.canonicalOf(aliases[0]);
    for (const a of aliases.slice(1)) {
      const c = this.canonicalOf(a);
      if (anchorRank(c) > anchorRank(canonical)) canonical = c;
    }
    e.identity_id = canonical;
    const rows: AliasRow[] = [];
    const t = chTime(e.time);
    const add = (alias: string, kind: string) => {
      if (this.map.get(alias) === canonical) return;
      if (alias !== canonical) this.map.set(alias, canonical);
      else if (this.map.has(alias)) return;
      else this.map.set(alias, alias);
      rows.push({ alias, identity_id: canonical, kind, origin: e.source, first_seen: t, last_seen: t });
    };
    add(canonical, "canonical");
    for (const a of aliases) if (a !== canonical) add(a, a.slice(0, a.indexOf(":")));
    // The raw principal string is an alias too, so analysts can look identities up as the logs name them.
    add(`raw:${e.actor.principal}`, "raw");
    return rows;
  }
}
