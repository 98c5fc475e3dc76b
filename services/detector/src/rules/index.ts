import { rule as accessDeniedBurst } from "./access-denied-burst";
import { rule as artifactExfiltration } from "./artifact-exfiltration";
import { rule as checkpointTampering } from "./checkpoint-tampering";
import { rule as credentialAfterJob } from "./credential-after-job";
import { rule as dormantIdentityActive } from "./dormant-identity-active";
import { rule as gpuJobUnexpected } from "./gpu-job-unexpected";
import { rule as offHoursAccess } from "./off-hours-access";
import { rule as privilegeEscalation } from "./privilege-escalation";
import { rule as promotionSeparationOfDuties } from "./promotion-separation-of-duties";
import { rule as secretEnumeration } from "./secret-enumeration";
import { rule as secretReadUnusual } from "./secret-read-unusual";
import { rule as sharedIdentity } from "./shared-identity";
import type { Rule } from "./types";

export type { Finding, Rule, RuleContext, RuleInput, RuleMeta } from "./types";

/** The detection catalog. Rule ids are part of the API. */
export const RULES: Rule[] = [
  secretReadUnusual,
  secretEnumeration,
  offHoursAccess,
  gpuJobUnexpected,
  artifactExfiltration,
  checkpointTampering,
  credentialAfterJob,
  sharedIdentity,
  privilegeEscalation,
  accessDeniedBurst,
  dormantIdentityActive,
  promotionSeparationOfDuties,
];
