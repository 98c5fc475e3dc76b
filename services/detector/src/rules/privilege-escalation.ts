import { at, daily, ev, type RuleCase, saUser } from "../cases";
import { isSystemPrincipal, seenBefore } from "../features";
import type { Finding, Rule } from "./types";

/** RBAC grants that amount to escalation when the parser surfaces the role's rules or roleRef. */
const DANGEROUS_GRANT =
  /(^|[,\s/])(secrets|pods\/exec|exec|impersonate|escalate|bind|\*)([,\s/]|$)|cluster-admin/;
/**
 * Cloud grants that amount to escalation: admin managed policies, wildcard or IAM/STS actions
 * (iam:PassRole + a compute service is the classic AWS escalation path), NotAction allow-lists, and GCP
 * basic or IAM/Secret Manager admin roles.
 */
const DANGEROUS_CLOUD_GRANT =
  /AdministratorAccess|IAMFullAccess|PowerUserAccess|SecretsManagerReadWrite|(^|[\s,:])\*([\s,]|$)|\b(iam|sts|secretsmanager|kms):(\*|PassRole|AssumeRole|Create(AccessKey|PolicyVersion)|Attach\w*Policy|Put\w*Policy|Decrypt|GetSecretValue)|NotAction|roles\/(owner|editor|iam\.\w+|resourcemanager\.\w+|secretmanager\.(admin|secretAccessor)|iam\.serviceAccount(TokenCreator|KeyAdmin|User))/;

/**
 * Privilege changes (MITRE T1098 account manipulation, T1134 impersonation, T1528 token minting):
 * impersonation by a non-system identity and token creation for another service account are high. RBAC
 * writes are judged by who makes them: an identity that never changed RBAC during its history doing so
 * past its learning period is medium (high for cluster-scoped objects or, when the parser surfaces them as
 * attrs `rbac_grants`/`role_ref`, grants of secrets, exec, impersonate, escalate/bind or wildcards). GitOps
 * controllers that apply RBAC routinely learn it as normal. The same judgement covers policy changes in
 * clouds, secret managers and object stores and new long-lived credentials (T1098.001 additional cloud
 * credentials), with DANGEROUS_CLOUD_GRANT for what the record says was granted (derive.ts,
 * cloudPrivilegeChange).
 */
export const rule: Rule = {
  id: "privilege-escalation",
  title: "Privilege escalation",
  severity: "high",
  mitre: ["T1098", "T1134", "T1528"],
  sources: ["k8s-audit", "gcp-audit", "cloudtrail", "vault", "minio", "azure-keyvault"],
  description:
    "Fires for RBAC changes that grant secrets/pods/exec/impersonate, token creation for another service account, impersonation by non-system identities, cloud/secret-manager/object-store policy changes and new long-lived credentials by identities that never made them, and dangerous cloud grants.",
  evaluate({ event, identityEvents, state, t, ctx }) {
    if (isSystemPrincipal(event.actor.principal)) return [];
    const out: Finding[] = [];
    for (const p of identityEvents) {
      if (p.kind !== "privilege_change") continue;
      const change = p.attrs.change;
      if (change === "impersonation") {
        out.push({
          title: `${event.actor.principal} impersonated ${p.attrs.target}`,
          description: `${event.actor.principal} acted as ${p.attrs.target} (${event.operation} ${event.resource.uri}).`,
          resource: `impersonate:${p.attrs.target}`,
        });
      } else if (change === "token") {
        if (p.attrs.target && p.attrs.target === event.identity_id) continue;
        out.push({
          title: `Token created for another service account ${p.attrs.target}`,
          description: `${event.actor.principal} created a token for ${p.attrs.target} (${event.operation}).`,
          resource: event.resource.uri,
        });
      } else if (change === "rbac" || change === "policy" || change === "credential") {
        // Writes that change who may do what: a dangerous grant always; otherwise only a kind of change this
        // identity never made before, past its learning period (GitOps controllers and Terraform learn it).
        const rbacChange = change === "rbac";
        const grants = (
          rbacChange
            ? `${event.attrs.rbac_grants ?? ""} ${event.attrs.role_ref ?? ""}`
            : (p.attrs.grants ?? "")
        ).trim();
        const dangerous =
          change !== "credential" && (rbacChange ? DANGEROUS_GRANT : DANGEROUS_CLOUD_GRANT).test(grants);
        const learning = state.learning(t, ctx.config.detector.learning_period);
        const novel = !seenBefore(state, change, p.attrs.object, t);
        if (!dangerous && (learning || !novel)) continue;
        const who = dangerous ? "a dangerous grant" : "an identity that never made such a change";
        const title = rbacChange
          ? `${p.attrs.object} ${p.attrs.name} ${event.verb === "create" ? "created" : "changed"} by ${who}`
          : change === "credential"
            ? `Long-lived credential (${p.attrs.object}) for ${p.attrs.name} created by ${who}`
            : `${p.attrs.object} of ${p.attrs.name} changed by ${who}`;
        out.push({
          title,
          description: `${event.actor.principal} ${event.operation} ${event.resource.uri}${grants ? ` (${grants})` : ""}.`,
          severity: dangerous || (rbacChange && p.attrs.object.startsWith("cluster")) ? "high" : "medium",
          resource: event.resource.uri,
        });
      }
    }
    return out;
  },
  learn({ identityEvents, state, t, ctx }) {
    for (const p of identityEvents) {
      if (p.kind !== "privilege_change") continue;
      const change = p.attrs.change;
      if (change === "rbac" || change === "policy" || change === "credential")
        ctx.states.learn(state, change, p.attrs.object, t);
    }
  },
};

const ci = saUser("ci", "ci-runner");
const rbac = (who: string, time: string, object: string, name: string) =>
  ev({
    who,
    time,
    verb: "create",
    operation: "create",
    uri: `k8s://prod/_/${object}/${name}`,
    type: object,
    name,
  });
const deployRole = "aws-role:123456789012:ci-deploy";
const iam = (who: string, time: string, operation: string, kind: string, name: string, attrs = {}) =>
  ev({
    who,
    time,
    source: "cloudtrail",
    verb: operation.startsWith("Create") ? "create" : "update",
    operation,
    uri: `aws-iam://123456789012/${kind}/${name}`,
    type: `iam-${kind}`,
    name,
    attrs,
  });
export const cases: RuleCase[] = [
  {
    name: "a CI runner binds itself to a cluster role",
    events: [
      ...daily(0, 3, (d) =>
        ev({ who: ci, time: at(d, 10), verb: "read", uri: "k8s://prod/ci/configmaps/x", type: "configmaps" }),
      ),
      rbac(ci, at(3, 10), "clusterrolebindings", "ci-admin"),
    ],
    expect: { fires: true, severity: "high" },
  },
  {
    name: "a developer creates a token for the training service account",
    events: [
      ev({
        who: "mallory@example.com",
        time: at(0, 11),
        verb: "create",
        operation: "create serviceaccounts/token",
        uri: "k8s://prod/ml-training/serviceaccounts/fine-tuning-job/token",
        type: "serviceaccounts",
        name: "fine-tuning-job",
        namespace: "ml-training",
        attrs: { subresource: "token" },
      }),
    ],
    expect: { fires: true, severity: "high" },
  },
  {
    name: "a person impersonates another",
    events: [
      ev({
        who: "mallory@example.com",
        time: at(0, 11),
        uri: "k8s://prod/payments/secrets/x",
        type: "secrets",
        impersonated: "bob@example.com",
      }),
    ],
    expect: { fires: true, severity: "high" },
  },
  {
    name: "Argo CD applies RBAC every day; the kubelet mints pod tokens",
    events: [
      ...daily(0, 6, (d) =>
        rbac(saUser("argocd", "argocd-application-controller"), at(d, 10), "rolebindings", `app-${d}`),
      ),
      ev({
        who: "system:node:gpu-node-1",
        time: at(6, 10),
        verb: "create",
        uri: "k8s://prod/ml-training/serviceaccounts/fine-tuning-job/token",
        type: "serviceaccounts",
        name: "fine-tuning-job",
        namespace: "ml-training",
        attrs: { subresource: "token" },
      }),
    ],
    expect: { fires: false, identity: "k8s-sa:prod:argocd:argocd-application-controller" },
  },
  {
    name: "a CI role attaches AdministratorAccess to a training role (first IAM change, still learning)",
    events: [
      iam(deployRole, at(0, 10), "AttachRolePolicy", "role", "ml-train", {
        policy: "arn:aws:iam::aws:policy/AdministratorAccess",
      }),
    ],
    expect: { fires: true, severity: "high" },
  },
  {
    name: "a CI role that only ever deployed creates an access key for an IAM user past its learning period",
    events: [
      ...daily(0, 4, (d) =>
        ev({ who: deployRole, time: at(d, 10), source: "cloudtrail", uri: "s3://ml-artifacts/model.bin" }),
      ),
      iam(deployRole, at(4, 10), "CreateAccessKey", "user", "ml-bot"),
    ],
    expect: { fires: true, severity: "medium" },
  },
  {
    name: "a Vault token that never wrote policies writes an ACL policy past its learning period",
    events: [
      ...daily(0, 4, (d) =>
        ev({ who: "vault-entity:ops-1", time: at(d, 10), source: "vault", uri: "vault://secret/data/ml/x" }),
      ),
      ev({
        who: "vault-entity:ops-1",
        time: at(4, 10),
        source: "vault",
        verb: "update",
        operation: "update",
        uri: "vault://sys/policies/acl/ml-admin",
        type: "system",
        name: "sys/policies/acl/ml-admin",
      }),
    ],
    expect: { fires: true, severity: "medium" },
  },
  {
    name: "Terraform attaches customer policies every day; a GCP binding is only removed",
    events: [
      ...daily(0, 6, (d) =>
        iam("aws-role:123456789012:terraform", at(d, 10), "AttachRolePolicy", "role", `app-${d}`, {
          policy: `arn:aws:iam::123456789012:policy/app-${d}-read`,
        }),
      ),
      ev({
        who: "aws-role:123456789012:terraform",
        time: at(6, 11),
        source: "gcp-audit",
        verb: "update",
        operation: "SetIamPolicy",
        uri: "gcp://cloudresourcemanager.googleapis.com/projects/ml",
        type: "cloudresourcemanager",
        name: "projects/ml",
        attrs: {
          service_name: "cloudresourcemanager.googleapis.com",
          policy_delta: "REMOVE roles/owner user:old-admin@example.com",
        },
      }),
    ],
    expect: { fires: false },
  },
  {
    name: "EKS's add-on manager reconciles its cluster role bindings (a platform user, never judged)",
    events: [
      ev({
        who: "eks:addon-manager",
        time: at(8, 3),
        verb: "create",
        operation: "create",
        uri: "k8s://prod/_/clusterrolebindings/eks:addon-cluster-admin",
        type: "clusterrolebindings",
        name: "eks:addon-cluster-admin",
        attrs: { role_ref: "ClusterRole/cluster-admin" },
      }),
    ],
    expect: { fires: false, identity: "k8s-user:prod:eks:addon-manager" },
  },
];
