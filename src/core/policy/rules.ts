// Which rules the pack enforces: those of the rule set with a plan-time check, each with
// its implementation in ./checks.ts. Pure.
import { Rule, RULES } from "../label/rules";
import { PLAN_CHECKS } from "./checks";

/** The plan rules; throws when one has no check here or a check names no plan rule. */
export function planRules(rules: readonly Rule[] = RULES, checks: Record<string, unknown> = PLAN_CHECKS): Rule[] {
  const planned = rules.filter((r) => r.checks.some((c) => c.at === "plan"));
  const ids = planned.map((r) => r.id);
  const missing = ids.filter((id) => !(id in checks));
  const stray = Object.keys(checks).filter((id) => !ids.includes(id));
  if (missing.length > 0 || stray.length > 0) {
    throw new Error(
      `the policy pack and the rule set disagree: no check for ${missing.join(", ") || "-"}; checks for no plan rule: ${stray.join(", ") || "-"}`,
    );
  }
  return planned;
}
