// The federation's rule set as a Pulumi CrossGuard policy pack: every rule with a plan-time
// check (src/core/label/rules.ts), by its id, rationale and level, so the pack and the label
// can never disagree on what a rule is called or whether it is mandatory. A mandatory
// rule's violation fails `pulumi preview` and stops `pulumi up`.
//   pulumi preview --policy-pack src/policy      pulumi up --policy-pack src/policy
import { Policies, PolicyPack } from "@pulumi/policy";
import { RULE_SET_DIGEST, RULE_SET_VERSION } from "../core/label/rules";
import { PLAN_CHECKS, PlannedResource } from "../core/policy/checks";
import { planRules } from "../core/policy/rules";

/**
 * Inputs as plain data. The engine's proxy throws on a value not known yet (a preview);
 * such a value is left out, and each check decides what it can say without it.
 */
function known(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  const read = (key: string | number): unknown => {
    try {
      return known((value as Record<string | number, unknown>)[key]);
    } catch {
      return undefined;
    }
  };
  if (Array.isArray(value)) return Array.from({ length: value.length }, (_, i) => read(i));
  return Object.fromEntries(Object.keys(value).map((key) => [key, read(key)]));
}

function planned(resource: { type: string; name: string; urn: string; props: Record<string, unknown> }): PlannedResource {
  return { type: resource.type, name: resource.name, urn: resource.urn, props: known(resource.props) as Record<string, unknown> };
}

const policies: Policies = planRules().map((rule) => {
  const check = PLAN_CHECKS[rule.id];
  const common = { name: rule.id, description: rule.rationale, enforcementLevel: rule.level };
  if ("resource" in check) {
    return { ...common, validateResource: (args, report) => check.resource(planned(args)).forEach((message) => report(message)) };
  }
  return { ...common, validateStack: (args, report) => check.stack(args.resources.map(planned)).forEach((f) => report(f.message, f.urn)) };
});

new PolicyPack(`boreal-rules-v${RULE_SET_VERSION}`, {
  description: `boreal-kit rule set ${RULE_SET_VERSION} (${RULE_SET_DIGEST}): its plan-time checks`,
  policies,
});
