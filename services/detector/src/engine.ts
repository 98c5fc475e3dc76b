/**
 * The detection engine: identity events, rule evaluation, learning and alert grouping for a batch of
 * resolved, de-duplicated events. Pure event time: the only clock is the events' own timestamps.
 */
import type { ClickHouseClient } from "@clickhouse/client";
import type { Config } from "@identrail/config";
import { aliasType } from "@identrail/core";
import type { IdentityEvent, NormalizedEvent, Severity } from "@identrail/schema";
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

export class Engine {
  readonly states: StateStore;
  readonly alerts: AlertBook;
  readonly catalog: ResourceCatalog;
  readonly rules: Rule[];
  private maxEventTime = 0;
  private suppressions: {
    s: Config["suppressions"][number];
    identity?: (v: string) => boolean;
    resource?: (v: string) => boolean;
  }[];

  constructor(
    readonly config: Config,
    ch?: ClickHouseClient,
    rules: Rule[] = RULES,
  ) {
    this.states = new StateStore(ch);
    this.alerts = new AlertBook(ch);
    this.catalog = new ResourceCatalog(config.resources);
    this.rules = rules.filter((r) => config.rules[r.id]?.enabled !== false);
    this.suppressions = config.suppressions.map((s) => ({
      s,
      identity: s.identity ? picomatch(s.identity) : undefined,
      resource: s.resource ? picomatch(s.resource, { dot: true }) : undefined,
    }));
  }

  get watermark() {
    return this.maxEventTime - this.config.detector.allowed_lateness;
  }

  /** Forget in-memory state of these identities (after a failed batch) so it reloads from ClickHouse. */
  invalidate(identityIds: string[]) {
    this.states.invalidate(identityIds);
    this.alerts.invalidate();
  }

  private suppressed(rule: string, e: NormalizedEvent, resource: string, t: number, alertIdentity = e.identity_id) {
    for (const { s, identity, resource: res } of this.suppressions) {
      if (s.rule && s.rule !== rule) continue;
      if (s.until && Date.parse(s.until) <= t) continue;
      if (identity && !identity(e.identity_id) && !identity(e.actor.principal) && !identity(alertIdentity)) continue;
      if (s.namespace && s.namespace !== e.resource.namespace && s.namespace !== e.attrs.namespace) continue;
      if (res && !res(resource)) continue;
      return true;
    }
    return false;
  }

  /** Processes events (sorted by event time inside). Mutates in-memory state; returns rows to persist. */
  async process(input: NormalizedEvent[]): Promise<EngineOutput> {
    const events = [...input].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    // Workload identities too: job lifecycle facts are recorded on the service account a job runs as.
    await this.states.load(events.flatMap((e) => [e.identity_id, workloadIdentity(e) ?? e.identity_id]));
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
      for (const rule of this.rules) {
        for (const finding of rule.evaluate(ri)) pending.push({ rule, finding, event: e });
      }
      for (const rule of this.rules) rule.learn?.(ri);
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
        return {
          ...p,
          resource,
          window,
          id: AlertBook.idFor(groupKey(p.rule.id, p.event.identity_id, resource, window)),
        };
      })
      .filter((p) => !this.suppressed(p.rule.id, p.event, p.resource, Date.parse(p.event.time)));
    await this.alerts.preload(raised.map((p) => p.id));
    for (const p of raised) {
      const override = this.config.rules[p.rule.id]?.severity as Severity | undefined;
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
  private bookkeep(e: NormalizedEvent, ies: IdentityEvent[], state: import("./state").IdentityState, t: number) {
    if (e.source !== "inventory" && !isSystemPrincipal(e.actor.principal)) this.states.learn(state, "how", hourOfWeek(t), t);
    for (const ie of ies) {
      if (ie.kind !== "job_lifecycle") continue;
      const target = ie.identity_id === state.id ? state : this.states.get(ie.identity_id);
      const w = ie.attrs.workload;
      if (ie.attrs.phase === "start") this.states.learn(target, "job_start", w, t);
      else {
        this.states.learn(target, "job_end", w, t);
        if (ie.attrs.pod) this.states.learn(target, "pod_end", ie.attrs.pod, t);
      }
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
