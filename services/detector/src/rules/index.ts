import { rule as secretReadUnusual } from "./secret-read-unusual";
import type { Rule } from "./types";

export type { Finding, Rule, RuleContext, RuleInput, RuleMeta } from "./types";

/** The detection catalog. Rule ids are part of the API. */
export const RULES: Rule[] = [secretReadUnusual];
