import type { Config } from "@identrail/config";
import type { IdentityEvent, NormalizedEvent, Severity, SourceName } from "@identrail/schema";
import type { ResourceCatalog } from "../catalog";
import type { IdentityState, StateStore } from "../state";

export interface RuleMeta {
  /** Stable id; part of the API and equal to the rule's file name. */
  id: string;
  title: string;
  severity: Severity;
  /** MITRE ATT&CK technique ids where one fits. */
  mitre: string[];
  /** Sources whose events can trigger the rule. */
  sources: SourceName[];
  description: string;
}

export interface RuleContext {
  config: Config;
  catalog: ResourceCatalog;
  states: StateStore;
  /** Highest event time seen minus allowed lateness (ms). Rules expire windows against this, never the wall clock. */
  watermark: number;
}

export interface RuleInput {
  event: NormalizedEvent;
  /**
   * Identity events derived from `event` (secret_read, artifact_transfer …). Workload facts (gpu_job,
   * job_lifecycle) may name another identity (the workload's service account) in `identity_id`.
   */
  identityEvents: IdentityEvent[];
  /** State of the event's identity as it was before this event. */
  state: IdentityState;
  /** Event time in ms. */
  t: number;
  ctx: RuleContext;
}

export interface Finding {
  title: string;
  description: string;
  severity?: Severity;
  /** Resource the finding is about; part of the alert group key. */
  resource?: string;
  /** Window label (e.g. a day "2026-11-24") that bounds grouping; omit for one alert per resource. */
  window?: string;
  labels?: Record<string, string>;
  /** Identity the alert is about when it is not the event's own (e.g. the service account a GPU job runs as). */
  identity?: string;
  /** Extra evidence event ids (the triggering event is always evidence). */
  evidence?: string[];
}

export interface Rule extends RuleMeta {
  evaluate(input: RuleInput): Finding[];
  /** Learns from the event after every rule evaluated it, so one rule's learning never hides another's finding. */
  learn?(input: RuleInput): void;
}
