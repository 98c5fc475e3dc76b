import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { cloudtrail } from "../src/sources/cloudtrail";
import { gkeObjectRef, k8sAudit } from "../src/sources/k8s-audit";
import { fixture, run } from "./helpers";

describe("k8s-audit: webhook EventList and managed-cluster wrappers", () => {
  it("webhook EventList: RequestReceived skipped, credential-id linked, Secret body redacted", () => {
    const r = run(k8sAudit, fixture("k8s-audit/webhook-eventlist.json"));
    expect(r.skipped).toHaveLength(1);
    expect(r.events).toHaveLength(2);
    expect(r.events[0].actor.links).toEqual([
      "k8s-sa:prod-eu:ml-train:trainer",
      "credential:prod-eu:JTI=7f6e5d4c-0000-4000-8000-000000000001",
    ]);
    expect(r.events[0].attrs.pod_name).toBe("train-llm-0");
    expect(r.events[1]).toMatchObject({ outcome: "failure", status_code: 403 });
    expect(JSON.stringify(r.wire)).not.toContain("UExBTlRFRC1LOFMtU0VDUkVU");
  });

  it("AKS records: string and object properties.log; other categories and broken logs are reported", () => {
    const r = run(k8sAudit, fixture("k8s-audit/aks-records.json"));
    expect(r.events.map((e) => e.verb)).toEqual(["create", "delete"]);
    expect(r.events[0].resource.uri).toBe("k8s://prod-eu/ml-train/rolebindings/bob-admin");
    expect(r.events[0].actor.links).toEqual(["human:bob@example.com"]);
    expect(r.rejected).toEqual([
      'AKS record category "kube-apiserver" is not kube-audit',
      "AKS properties.log: malformed JSON",
    ]);
    // NDJSON of single AKS records (as in storage-account exports) works the same.
    const recs = JSON.parse(fixture("k8s-audit/aks-records.json")).records.slice(0, 2);
    expect(run(k8sAudit, recs.map((x: unknown) => JSON.stringify(x)).join("\n")).events).toHaveLength(2);
  });

  it("GKE entries are converted at the collector: the wire record is a redacted audit Event", () => {
    const r = run(k8sAudit, fixture("k8s-audit/gke-entries.json"));
    expect(r.events).toHaveLength(3);
    const wire = r.wire[0] as Record<string, unknown>;
    expect(wire.apiVersion).toBe("audit.k8s.io/v1");
    expect(wire.auditID).toBe("gke0001-op");
    expect(JSON.stringify(r.wire)).not.toContain("UExBTlRFRC1HS0UtU0VDUkVU");
  });

  it("GKE resourceName parsing", () => {
    expect(gkeObjectRef("core/v1/namespaces/ml/secrets/x")).toEqual({
      apiGroup: "",
      apiVersion: "v1",
      namespace: "ml",
      resource: "secrets",
      name: "x",
    });
    expect(gkeObjectRef("core/v1/namespaces/ml/pods/p/exec")).toMatchObject({
      resource: "pods",
      name: "p",
      subresource: "exec",
    });
    expect(gkeObjectRef("rbac.authorization.k8s.io/v1/clusterroles/admin")).toMatchObject({
      apiGroup: "rbac.authorization.k8s.io",
      resource: "clusterroles",
      name: "admin",
    });
    expect(gkeObjectRef("core/v1/namespaces/ml")).toMatchObject({ resource: "namespaces", name: "ml" });
    expect(gkeObjectRef("readyz")).toBeUndefined();
  });
});

describe("k8s-audit: EKS control-plane audit logs through CloudWatch Logs", () => {
  const payload = fixture("k8s-audit/eks-cloudwatch-subscription.json");
  const sub = JSON.parse(payload);
  const r = run(k8sAudit, payload);
  const byUser = (u: string) => r.events.find((e) => e.actor.principal === u);
  const ACCT = "123456789012";

  it("subscription DATA_MESSAGE: each message is an Event at its own time; a cut message is rejected alone", () => {
    expect(r.decodeErrors).toEqual([]);
    expect(r.rejected).toEqual(["CloudWatch Logs message: malformed JSON"]);
    expect(r.events.map((e) => [e.time, e.verb, e.resource.uri])).toEqual([
      ["2026-11-21T09:00:00.000Z", "read", "k8s://prod-eu/ml-train/configmaps/kube-root-ca.crt"],
      ["2026-11-21T09:01:00.000Z", "list", "k8s://prod-eu/ml-train/secrets"],
      ["2026-11-21T09:02:00.000Z", "update", "k8s://prod-eu/ml-serve/deployments/llm-api"],
      ["2026-11-21T09:03:00.000Z", "read", "k8s://prod-eu/ml-batch/pods/etl-7f9c"],
      ["2026-11-21T09:04:00.000Z", "read", "k8s://prod-eu/_/nodes/ip-192-0-2-11.eu-west-1.compute.internal"],
    ]);
  });

  it("CONTROL_MESSAGE (the subscription's connectivity probe) yields no record and no error", () => {
    const d = k8sAudit.decode(fixture("k8s-audit/eks-cloudwatch-control.json"));
    expect({ records: d.records, errors: d.errors }).toEqual({ records: [], errors: [] });
  });

  it("aws-iam-authenticator identities: mapped users link the IAM role; ARN usernames are the role", () => {
    const node = byUser("system:node:ip-192-0-2-11.eu-west-1.compute.internal");
    expect(node?.actor).toMatchObject({
      type: "workload",
      // Not linked to the node group's role: every node assumes it, and linking would merge them all.
      links: ["k8s-user:prod-eu:system:node:ip-192-0-2-11.eu-west-1.compute.internal"],
      credential_id: "ASIAEXAMPLENODE00001",
      session: `arn:aws:sts::${ACCT}:assumed-role/eks-ml-node-group-role/i-0123456789abcdef0`,
    });
    // A name the role is mapped to is the role inside the cluster, not a person: the role anchors it.
    expect(byUser("kubernetes-admin")?.actor).toMatchObject({
      type: "cloud_role",
      links: ["k8s-user:prod-eu:kubernetes-admin", `aws-role:${ACCT}:EKSClusterAdmin`],
    });
    // EKS access entry with the default username: the role, not a new "person" per session.
    const ci = byUser(`arn:aws:sts::${ACCT}:assumed-role/github-actions-deploy/GitHubActions-4242`);
    expect(ci?.actor).toMatchObject({
      type: "cloud_role",
      links: [`aws-role:${ACCT}:github-actions-deploy`],
      session: `arn:aws:sts::${ACCT}:assumed-role/github-actions-deploy/GitHubActions-4242`,
    });
    expect(ci?.src_ip).toBe("2001:db8:4::7");
    // EKS's own control-plane users are not people.
    expect(byUser("eks:node-manager")?.actor).toMatchObject({
      type: "unknown",
      links: ["k8s-user:prod-eu:eks:node-manager"],
    });
  });

  it("an IAM user ARN as username is the aws-user alias", () => {
    expect(byUser(`arn:aws:iam::${ACCT}:user/ml-batch-bot`)?.actor).toMatchObject({
      type: "unknown",
      links: [`aws-user:${ACCT}:ml-batch-bot`],
      credential_id: "AKIAEXAMPLEBATCHBOT1",
    });
  });

  it("a node's session is the one CloudTrail gives the same instance's calls", () => {
    const ct = {
      eventVersion: "1.10",
      eventTime: "2026-11-21T09:05:00Z",
      eventSource: "ecr.amazonaws.com",
      eventName: "GetAuthorizationToken",
      eventID: "c7000000-0000-4000-8000-000000000001",
      awsRegion: "eu-west-1",
      sourceIPAddress: "192.0.2.11",
      userIdentity: {
        type: "AssumedRole",
        principalId: "AROAEXAMPLENODEROLE01:i-0123456789abcdef0",
        arn: `arn:aws:sts::${ACCT}:assumed-role/eks-ml-node-group-role/i-0123456789abcdef0`,
        accountId: ACCT,
        sessionContext: {
          sessionIssuer: { type: "Role", arn: `arn:aws:iam::${ACCT}:role/eks-ml-node-group-role` },
        },
      },
    };
    const aws = run(cloudtrail, JSON.stringify(ct)).events[0];
    const node = byUser("system:node:ip-192-0-2-11.eu-west-1.compute.internal");
    expect(aws.actor.links[0]).toBe(`aws-role:${ACCT}:eks-ml-node-group-role`);
    expect(node?.actor.links).not.toContain(aws.actor.links[0]);
    expect(node?.actor.session).toBe(aws.actor.session);
  });

  it("a username templated from the session name (one per SSO user of a shared role) is not linked to the role", () => {
    const ev = JSON.parse(sub.logEvents[1].message);
    ev.user.username = "alice@example.com";
    const e = run(k8sAudit, JSON.stringify(ev)).events[0];
    expect(e.actor.links).toEqual(["human:alice@example.com"]);
    expect(e.actor.session).toBe(`arn:aws:sts::${ACCT}:assumed-role/EKSClusterAdmin/alice@example.com`);
  });

  it("component streams of the same log group are rejected with a reason, not as malformed JSON", () => {
    const klog = {
      ...sub,
      logStream: "authenticator-0f6e2a3b4c5d6e7f8a9b0c1d2e3f4a5b",
      logEvents: [
        {
          id: "1",
          timestamp: 1795251600000,
          message: 'time="2026-11-21T09:00:00Z" level=info msg="access granted"',
        },
      ],
    };
    expect(run(k8sAudit, JSON.stringify(klog)).rejected).toEqual([
      "EKS log stream authenticator-* holds component logs, not audit events",
    ]);
  });

  it("the Lambda event posted as is ({awslogs:{data}}), and FilterLogEvents output, give the same events", () => {
    const same = (text: string, reason = "CloudWatch Logs message: malformed JSON") => {
      const x = run(k8sAudit, text);
      expect(x.rejected).toEqual([reason]);
      expect(x.events.map((e) => e.id)).toEqual(r.events.map((e) => e.id));
    };
    same(JSON.stringify({ awslogs: { data: gzipSync(payload).toString("base64") } }));
    // `aws logs filter-log-events --log-group-name /aws/eks/ml-prod/cluster --log-stream-name-prefix kube-apiserver-audit`
    const events = sub.logEvents.map((e: { id: string; timestamp: number; message: string }) => ({
      logStreamName: sub.logStream,
      timestamp: e.timestamp,
      message: e.message,
      ingestionTime: e.timestamp + 900,
      eventId: e.id,
    }));
    same(
      JSON.stringify({
        events,
        searchedLogStreams: [],
        nextToken: "Bxkq6kVGFtq2y_MoigeqscPOdhXVbhiVtLoAmXb5jCrI7fXLrEXAMPLE",
      }),
    );
    // `… --query events`: the bare list.
    same(JSON.stringify(events), "shipped log line is not a JSON audit event");
    const bad = run(k8sAudit, JSON.stringify({ awslogs: { data: "bm90IGd6aXA=" } }));
    expect(bad.rejected).toEqual(["awslogs.data is not base64 gzip (or decompresses past 32 MiB)"]);
  });
});
