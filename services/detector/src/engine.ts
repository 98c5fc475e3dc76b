/**
 * The detection engine: identity events, rule evaluation, learning and alert grouping for a batch of
 * resolved, de-duplicated events. Pure event time: the only clock is the events' own timestamps.
 */
import type { ClickHouseClient } from "@clickhouse/client";
import { type Config, Suppression } from "@identrail/config";
import { aliasType, logger, metrics } from "@identrail/core";
import { type IdentityEvent, type NormalizedEvent, SEVERITIES, type Severity } from "@identrail/schema";
import { chTime } from "@identrail/store";
import picomatch from "picomatch";
import { AlertBook, type AlertRow, groupKey } from "./alerts";
import { ResourceCatalog } from "./catalog";
import { deriveIdentityEvents } from "./derive";
import { hourOfWeek, isSystemPrincipal, workloadIdentity } from "./features";
import { type Finding, RULES, type Rule, type RuleContext } from "./rules";
import { type FeatureRow, StateStore } from "./state";

export interface IdentityRow {
  id: string;
  type: string;
  display_name: string;
  cluster: string;
  namespace: string;
  environment: string;
  owner: string;
  purpose: string;
  expires_at: string | null;
  attrs: Record<string, string>;
  updated_at: string;
}

export interface EngineOutput {
  identityEvents: IdentityEvent[];
  features: FeatureRow[];
  seen: { id: string; first_seen: string; last_seen: string }[];
  identities: IdentityRow[];
  alerts: AlertRow[];
  evidence: { alert_id: string; event_id: string; time: string }[];
}

interface PendingFinding {
  rule: Rule;
  finding: Finding;
  event: NormalizedEvent;
}

type Compiled = {
  s: Config["suppressions"][number];
  identity?: (v: string) => boolean;
  resource?: (v: string) => boolean;
};
const compile = (s: Config["suppressions"][number]): Compiled => ({
  s,
  identity: s.identity ? picomatch(s.identity) : undefined,
  resource: s.resource ? picomatch(s.resource, { dot: true }) : undefined,
});

/** How often (wall clock) runtime overrides set through the API are re-read; an operational cadence. */
const OVERRIDES_REFRESH_MS = 15_000;

export class Engine {
  readonly states: StateStore;
  readonly alerts: AlertBook;
  readonly catalog: ResourceCatalog;
  private maxEventTime = 0;
  private suppressions: Compiled[];
  /** Suppressions and rule settings made through the API (tables `suppressions`, `rule_settings`). */
  private runtime: {
    suppressions: Compiled[];
    settings: Map<string, { enabled?: boolean; severity?: Severity }>;
  } = {
    suppressions: [],
    settings: new Map(),
  };
  private overridesAt = 0;

  constructor(
    readonly config: Config,
    private readonly ch?: ClickHouseClient,
    private readonly catalogRules: Rule[] = RULES,
  ) {
    this.states = new StateStore(ch);
    this.alerts = new AlertBook(ch);
    this.catalog = new ResourceCatalog(config.resources);
    this.suppressions = [...config.suppressions, ...allowlists(config)].map(compile);
  }

  /** Rules currently enabled: an API override wins over `rules.<id>.enabled` in config. */
  get rules(): Rule[] {
    return this.catalogRules.filter(
      (r) => (this.runtime.settings.get(r.id)?.enabled ?? this.config.rules[r.id]?.enabled) !== false,
    );
  }

  private severityOverride(rule: string): Severity | undefined {
    return (
      this.runtime.settings.get(rule)?.severity ?? (this.config.rules[rule]?.severity as Severity | undefined)
    );
  }

  /**
   * Re-reads suppressions and rule settings stored by the API (at most every 15 s). Missing tables or a
   * failing query keep the previous overrides: detection goes on with config alone.
   */
  async refreshOverrides(force = false) {
    if (!this.ch || (!force && Date.now() - this.overridesAt < OVERRIDES_REFRESH_MS)) return;
    this.overridesAt = Date.now();
    try {
      const q = async <T>(query: string) =>
        (await (await this.ch!.query({ query, format: "JSONEachRow" })).json()) as T[];
      const [sup, settings] = await Promise.all([
        q<{
          rule: string;
          identity: string;
          namespace: string;
          resource: string;
          reason: string;
          until: string | null;
        }>(
          "SELECT rule, identity, namespace, resource, reason, toUnixTimestamp64Milli(until) AS until FROM suppressions FINAL WHERE deleted = 0",
        ),
        q<{ rule: string; enabled: number | string; severity: string }>(
          "SELECT rule, enabled, severity FROM rule_settings FINAL",
        ),
      ]);
      this.runtime = {
        suppressions: sup.map((r) =>
          compile({
            rule: r.rule || undefined,
            identity: r.identity || undefined,
            namespace: r.namespace || undefined,
            resource: r.resource || undefined,
            reason: r.reason,
            until: r.until ? new Date(Number(r.until)).toISOString() : undefined,
          }),
        ),
        settings: new Map(
          settings.map((r) => [
            r.rule,
            {
              // 2 = "no override" (see services/api rules routes).
              enabled: Number(r.enabled) === 2 ? undefined : Number(r.enabled) === 1,
              severity: (SEVERITIES as readonly string[]).includes(r.severity)
                ? (r.severity as Severity)
                : undefined,
            },
          ]),
        ),
      };
    } catch (e) {
      logger.warn(
        { err: (e as Error).message.slice(0, 200) },
        "reading API rule overrides failed; keeping previous ones",
      );
    }
  }

  get watermark() {
    return this.maxEventTime - this.config.detector.allowed_lateness;
  }

  /** Forget in-memory state of these identities (after a failed batch) so it reloads from ClickHouse. */
  invalidate(identityIds: string[]) {
    this.states.invalidate(identityIds);
    this.alerts.invalidate();
  }

  private suppressed(
    rule: string,
    e: NormalizedEvent,
    resource: string,
    t: number,
    alertIdentity = e.identity_id,
  ) {
    for (const { s, identity, resource: res } of [...this.suppressions, ...this.runtime.suppressions]) {
      if (s.rule && s.rule !== rule) continue;
      if (s.until && Date.parse(s.until) <= t) continue;
      if (identity && !identity(e.identity_id) && !identity(e.actor.principal) && !identity(alertIdentity))
        continue;
      if (s.namespace && s.namespace !== e.resource.namespace && s.namespace !== e.attrs.namespace) continue;
      if (res && !res(resource)) continue;
      return true;
    }
    return false;
  }

  /**
   * Identities whose state `process(events)` would read from ClickHouse: workload identities too, since
   * job lifecycle facts are recorded on the service account a job runs as. A caller that reads them
   * itself (in one statement with its own read: `STATE_QUERY`, `states.apply`) passes them to `process`.
   */
  statesToLoad(events: NormalizedEvent[]): string[] {
    return this.states.missing(stateIds(events));
  }

  /**
   * Processes events (sorted by event time inside). Mutates in-memory state; returns rows to persist.
   * `justLoaded`: identities whose state the caller has just read (see statesToLoad), which need no
   * re-read of their job facts.
   */
  async process(input: NormalizedEvent[], justLoaded?: ReadonlySet<string>): Promise<EngineOutput> {
    const events = [...input].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    await this.refreshOverrides();
    const active = this.rules;
    const loaded = new Set(
      events.map((e) => e.identity_id).filter((id) => this.states.peek(id) && !justLoaded?.has(id)),
    );
    await this.states.load(stateIds(events));
    // Job facts about a service account may have been written by another instance (the one owning the job
    // controller's partition) since this instance loaded the SA: re-read them for job-bound identities.
    const jobBound = [...loaded].filter((id) => this.states.peek(id)?.features.has("job_start"));
    await this.states.refresh(jobBound, ["job_start", "job_end", "pod_end"]);
    const ctx: RuleContext = {
      config: this.config,
      catalog: this.catalog,
      states: this.states,
      watermark: this.watermark,
    };
    const identityEvents: IdentityEvent[] = [];
    const pending: PendingFinding[] = [];
    const seen = new Map<string, { id: string; first_seen: string; last_seen: string }>();
    const identities = new Map<string, IdentityRow>();
    for (const e of events) {
      const t = Date.parse(e.time);
      // Behind the watermark: evaluated like any other event (rules use event time), only counted.
      if (t < this.watermark) metrics.detectorEvents.inc({ outcome: "late" });
      if (t > this.maxEventTime) {
        this.maxEventTime = t;
        ctx.watermark = this.watermark;
      }
      const state = this.states.get(e.identity_id);
      const isNew = state.firstSeen === Number.POSITIVE_INFINITY;
      if (isNew || infoChanged(state.info, e)) identities.set(e.identity_id, this.identityRow(state, e));
      const ies = deriveIdentityEvents(e, this.catalog, { config: this.config, state });
      identityEvents.push(...ies);
      const ri = { event: e, identityEvents: ies, state, t, ctx };
      // A brand-new identity starts its learning period at this event.
      if (isNew) state.firstSeen = t;
      state.previousSeen = state.lastSeen;
      for (const rule of active) {
        for (const finding of rule.evaluate(ri)) pending.push({ rule, finding, event: e });
      }
      // Disabled rules keep learning, so re-enabling one does not start its baselines from scratch.
      for (const rule of this.catalogRules) rule.learn?.(ri);
      this.bookkeep(e, ies, state, t);
      if (t < state.firstSeen) state.firstSeen = t;
      if (t > state.lastSeen) state.lastSeen = t;
      const ts = chTime(t);
      const s = seen.get(e.identity_id);
      if (!s) seen.set(e.identity_id, { id: e.identity_id, first_seen: ts, last_seen: ts });
      else {
        if (ts < s.first_seen) s.first_seen = ts;
        if (ts > s.last_seen) s.last_seen = ts;
      }
    }
    const raised = pending
      .map((p) => {
        const resource = p.finding.resource ?? "";
        const window = p.finding.window ?? "";
        const identity = p.finding.identity ?? p.event.identity_id;
        return {
          ...p,
          resource,
          window,
          identity,
          id: AlertBook.idFor(groupKey(p.rule.id, identity, resource, window)),
        };
      })
      .filter((p) => !this.suppressed(p.rule.id, p.event, p.resource, Date.parse(p.event.time), p.identity));
    await this.alerts.preload(raised.map((p) => p.id));
    for (const p of raised) {
      const override = this.severityOverride(p.rule.id);
      this.alerts.raise({
        rule: p.rule.id,
        severity: override ?? p.finding.severity ?? p.rule.severity,
        identity: p.identity,
        title: p.finding.title,
        description: p.finding.description,
        resource: p.resource,
        window: p.window,
        labels: {
          source: p.event.source,
          cluster: p.event.cluster,
          namespace: p.event.resource.namespace ?? "",
          identity_type: this.states.peek(p.identity)?.info.type ?? p.event.actor.type,
          environment: this.catalog.classify(p.resource)?.environment ?? "",
          ...(p.finding.labels ?? {}),
        },
        mitre: p.rule.mitre,
        eventId: p.event.id,
        time: p.event.time,
        evidence: p.finding.evidence,
      });
    }
    const { alerts, evidence } = this.alerts.take();
    return {
      identityEvents,
      features: this.states.takePendingFeatures(),
      seen: [...seen.values()],
      identities: [...identities.values()],
      alerts,
      evidence,
    };
  }

  /**
   * Baselines every rule may read: the hour-of-week schedule of the event's identity, and job start/end
   * facts on the service account a workload runs as. The latter may be another identity than the event's
   * (the job controller creates pods; the SA runs them): the row is persisted for that identity, and this
   * instance's in-memory state is updated. Another detector instance that owns the SA's partition sees it
   * when it (re)loads the SA's state — see credential-after-job for the trade-off.
   */
  private bookkeep(
    e: NormalizedEvent,
    ies: IdentityEvent[],
    state: import("./state").IdentityState,
    t: number,
  ) {
    if (e.source !== "inventory" && !isSystemPrincipal(e.actor.principal))
      this.states.learn(state, "how", hourOfWeek(t), t);
    // The inventory saw the ServiceAccount object itself: its owner annotation (or its absence) is a fact.
    if (e.source === "inventory" && e.attrs.kind === "ServiceAccount")
      this.states.learn(state, "inventory", "described", t);
    for (const ie of ies) {
      // The learned secret set (secret-read-unusual, secret-enumeration read it).
      if (ie.kind === "secret_read") this.states.learn(state, "secret", ie.resource_uri, t);
      else if (ie.kind === "secret_list") this.states.learn(state, "secret_list", ie.resource_uri, t);
      if (ie.kind !== "job_lifecycle") continue;
      const target = ie.identity_id === state.id ? state : this.states.get(ie.identity_id);
      const w = ie.attrs.workload;
      if (ie.attrs.phase === "start") this.states.learn(target, "job_start", w, t);
      else {
        this.states.learn(target, "job_end", w, t);
        if (ie.attrs.pod) this.states.learn(target, "pod_end", ie.attrs.pod, t);
      }
      pruneJobs(target, t);
    }
  }

  private identityRow(state: import("./state").IdentityState, e: NormalizedEvent): IdentityRow {
    const m = /^k8s-sa:([^:]+):([^:]+):/.exec(e.identity_id);
    const a = e.actor.attrs;
    const info = state.info;
    info.type ??= aliasType(e.identity_id) === "unknown" ? e.actor.type : aliasType(e.identity_id);
    info.cluster ??= m?.[1] ?? (e.cluster || undefined);
    info.namespace ??= m?.[2];
    if (a.owner) info.owner = a.owner;
    if (a.purpose) info.purpose = a.purpose;
    if (a.environment) info.environment = a.environment;
    if (a.expires && !Number.isNaN(Date.parse(a.expires))) info.expiresAt = Date.parse(a.expires);
    return {
      id: e.identity_id,
      type: info.type ?? "unknown",
      display_name: e.actor.display_name ?? e.actor.principal,
      cluster: info.cluster ?? "",
      namespace: info.namespace ?? "",
      environment: info.environment ?? "",
      owner: info.owner ?? "",
      purpose: info.purpose ?? "",
      expires_at: info.expiresAt ? chTime(info.expiresAt) : null,
      attrs: {},
      updated_at: chTime(Math.max(Date.parse(e.time), Date.now())),
    };
  }
}

function infoChanged(info: import("./state").IdentityInfo, e: NormalizedEvent): boolean {
  const a = e.actor.attrs;
  return (
    (a.owner !== undefined && a.owner !== info.owner) ||
    (a.purpose !== undefined && a.purpose !== info.purpose) ||
    (a.environment !== undefined && a.environment !== info.environment) ||
    (a.expires !== undefined && Date.parse(a.expires) !== info.expiresAt)
  );
}

/**
 * Keeps job bookkeeping bounded in memory (one entry per job name; nightly jobs get new names): finished
 * jobs whose end is a month old are forgotten. Rows stay in identity_features and reload with the state.
 */
function pruneJobs(s: import("./state").IdentityState, t: number) {
  const starts = s.features.get("job_start");
  if (!starts || starts.size <= 256) return;
  const ends = s.features.get("job_end");
  const podEnds = s.features.get("pod_end");
  for (const [name, st] of starts) {
    const end = ends?.get(name);
    if (end && end.last >= st.last && end.last < t - 30 * 86_400_000) {
      starts.delete(name);
      ends!.delete(name);
    }
  }
  if (podEnds) for (const [p, v] of podEnds) if (v.last < t - 30 * 86_400_000) podEnds.delete(p);
}

/**
 * Per-rule allowlists: `rules.<id>.allow: [{identity, namespace, resource, reason}]` (identity and resource
 * are globs; identity matches the canonical id or the principal as the logs name it). They are
 * suppressions scoped to one rule, kept next to the rule's other settings; malformed entries fail at boot.
 */
export function allowlists(config: Config): Config["suppressions"] {
  const out: Config["suppressions"] = [];
  for (const [rule, settings] of Object.entries(config.rules)) {
    const allow = (settings as { allow?: unknown }).allow;
    if (allow === undefined) continue;
    const parsed = Suppression.array().safeParse(allow);
    if (!parsed.success)
      throw new Error(`rules.${rule}.allow: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    for (const a of parsed.data) out.push({ ...a, rule });
  }
  return out;
}

/** The identities whose state processing these events reads: each event's own, and its workload's. */
function stateIds(events: NormalizedEvent[]): string[] {
  return events.flatMap((e) => [e.identity_id, workloadIdentity(e) ?? e.identity_id]);
}
