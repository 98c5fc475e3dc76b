import { describe, expect, it } from "vitest";
import { cloudtrail } from "../src/sources/cloudtrail";
import { fixture, one, run } from "./helpers";

describe("cloudtrail parser", () => {
  const file = run(cloudtrail, fixture("cloudtrail/irsa-records.json"));

  it("splits a Records file", () => {
    expect(file.decodeErrors).toEqual([]);
    expect(file.rejected).toEqual([]);
    expect(file.events.map((e) => e.operation)).toEqual([
      "AssumeRoleWithWebIdentity",
      "GetObject",
      "CopyObject",
    ]);
  });

  it("IRSA: the web identity's service account is the actor and the assumed role is linked", () => {
    const e = file.events[0];
    expect(e.actor.principal).toBe("system:serviceaccount:ml-train:trainer");
    expect(e.actor.type).toBe("service_account");
    expect(e.actor.links[0]).toBe("k8s-sa:prod-eu:ml-train:trainer");
    expect(e.actor.links).toContain("aws-role:123456789012:ml-train-s3");
    expect(e.verb).toBe("auth");
    expect(e.id).not.toBe(file.events[1].id);
  });

  it("S3 data events: role from the session issuer, bytes, URI", () => {
    const get = file.events[1];
    expect(get.actor.links).toEqual(["aws-role:123456789012:ml-train-s3"]);
    expect(get.actor.type).toBe("cloud_role");
    expect(get.actor.session).toBe(
      "arn:aws:sts::123456789012:assumed-role/ml-train-s3/botocore-session-1763604005",
    );
    expect(get.actor.credential_id).toBe("ASIAEXAMPLEEXAMPLE01");
    expect(get).toMatchObject({ verb: "read", bytes_out: 104857600, outcome: "success", status_code: 200 });
    expect(get.resource).toMatchObject({
      uri: "s3://ml-datasets-example/imagenet/train/shard-00042.tar",
      type: "object",
    });
    expect(get.raw_ref).toBe("e0000000-0000-4000-8000-000000000002");
  });

  it("CopyObject keeps the decoded copy source as an s3:// URI", () => {
    const copy = file.events[2];
    expect(copy.verb).toBe("write");
    expect(copy.resource.uri).toBe("s3://ml-exfil-example/drop/step-1000.pt");
    expect(copy.attrs.copy_source).toBe("s3://ml-models-example/checkpoints/llm-7b/step-1000.pt");
  });

  it("EventBridge: AccessDenied on a secret by name is a 403 failure with the secret URI", () => {
    const e = one(cloudtrail, fixture("cloudtrail/eventbridge-get-secret-denied.json"));
    expect(e).toMatchObject({
      outcome: "failure",
      status_code: 403,
      verb: "read",
      operation: "GetSecretValue",
    });
    expect(e.reason).toMatch(/^AccessDeniedException: /);
    expect(e.resource).toMatchObject({
      uri: "aws-secretsmanager://123456789012/eu-west-1/prod/db/password",
      type: "secret",
    });
    expect(e.actor.links).toEqual(["aws-role:123456789012:AWSReservedSSO_DataScientist_0123456789abcdef"]);
  });

  it("secret ARNs lose AWS's random suffix so name and ARN reads meet on one URI", () => {
    const rec = JSON.parse(fixture("cloudtrail/eventbridge-get-secret-denied.json")).detail;
    rec.errorCode = undefined;
    rec.requestParameters = {
      secretId: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db/password-AbC123",
    };
    const e = one(cloudtrail, JSON.stringify(rec));
    expect(e.resource.uri).toBe("aws-secretsmanager://123456789012/eu-west-1/prod/db/password");
    expect(e.outcome).toBe("success");
    const batch = {
      ...rec,
      eventName: "BatchGetSecretValue",
      requestParameters: { secretIdList: ["a", "b", "c"] },
    };
    const r = run(cloudtrail, JSON.stringify(batch));
    expect(r.events.map((x) => x.resource.name)).toEqual(["a", "b", "c"]);
    expect(new Set(r.events.map((x) => x.id)).size).toBe(3);
    const list = one(cloudtrail, JSON.stringify({ ...rec, eventName: "ListSecrets", requestParameters: {} }));
    expect(list).toMatchObject({
      verb: "list",
      resource: { uri: "aws-secretsmanager://123456789012/eu-west-1/*" },
    });
  });

  it("bare arrays and NDJSON of records; IAM users, root and AWS services get aliases", () => {
    const rec = JSON.parse(fixture("cloudtrail/eventbridge-get-secret-denied.json")).detail;
    const user = {
      ...rec,
      eventID: "u1",
      userIdentity: {
        type: "IAMUser",
        arn: "arn:aws:iam::123456789012:user/ci-bot",
        accountId: "123456789012",
        accessKeyId: "AKIAEXAMPLE",
      },
    };
    const root = {
      ...rec,
      eventID: "r1",
      userIdentity: { type: "Root", arn: "arn:aws:iam::123456789012:root", accountId: "123456789012" },
    };
    const svc = {
      ...rec,
      eventID: "s1",
      userIdentity: { type: "AWSService", invokedBy: "lambda.amazonaws.com" },
    };
    const r = run(cloudtrail, `${JSON.stringify(user)}\n${JSON.stringify(root)}\n${JSON.stringify(svc)}\n`);
    expect(r.events.map((e) => e.actor.links[0])).toEqual([
      "aws-user:123456789012:ci-bot",
      "aws-user:123456789012:root",
      "aws-service:lambda.amazonaws.com",
    ]);
    const arr = run(cloudtrail, JSON.stringify([user, root]));
    expect(arr.events).toHaveLength(2);
  });

  it("rejects records without the fields it needs, and unknown major versions", () => {
    const rec = JSON.parse(fixture("cloudtrail/eventbridge-get-secret-denied.json")).detail;
    const cases: [unknown, RegExp][] = [
      [{ ...rec, eventVersion: "2.0" }, /eventVersion/],
      [{ ...rec, eventID: undefined }, /eventID/],
      [{ ...rec, userIdentity: "x" }, /userIdentity/],
      [{ ...rec, eventTime: "1970-01-01T00:00:00Z" }, /before 2000/],
      [{ ...rec, eventTime: undefined }, /timestamp/],
      ["GetObject", /not a JSON object/],
    ];
    for (const [r, re] of cases) {
      const a = cloudtrail.accept(r);
      expect(a.ok).toBe(false);
      if (!a.ok) expect(a.error).toMatch(re);
    }
  });

  it("CloudWatch Logs subscription payloads: each logEvents[].message is a record; a broken one is rejected alone", () => {
    const cw = run(cloudtrail, fixture("cloudtrail/cloudwatch-subscription.json"));
    expect(cw.rejected).toEqual(["CloudWatch Logs message: malformed JSON"]);
    expect(cw.events).toHaveLength(1);
    expect(cw.events[0]).toMatchObject({
      operation: "GetSecretValue",
      time: "2026-11-20T02:05:00.000Z",
      resource: { uri: "aws-secretsmanager://123456789012/us-east-1/ml/wandb" },
    });
    expect(cw.events[0].actor.links).toEqual(["aws-role:123456789012:ml-trainer-irsa"]);
    // The connectivity probe a subscription sends first carries no records and no errors.
    const probe = JSON.stringify({
      messageType: "CONTROL_MESSAGE",
      logEvents: [{ id: "", message: "CWL CONTROL MESSAGE" }],
    });
    expect(cloudtrail.decode(probe)).toEqual({ records: [], errors: [] });
  });

  it("EKS Pod Identity: the subject service account is the actor, the role it received is linked, tokens redacted", () => {
    const r = run(cloudtrail, fixture("cloudtrail/pod-identity.json"));
    expect(r.events).toHaveLength(1);
    const e = r.events[0];
    expect(e.actor.principal).toBe("system:serviceaccount:ml-train:trainer");
    expect(e.actor.type).toBe("service_account");
    expect(e.actor.links).toEqual([
      "k8s-sa:prod-eu:ml-train:trainer",
      "aws-role:123456789012:ml-train-pod-identity",
    ]);
    expect(e.actor.attrs.caller_arn).toBe(
      "arn:aws:sts::123456789012:assumed-role/eks-node-role/i-0123456789abcdef0",
    );
    expect(e.actor.attrs.eks_cluster).toBe("ml-prod");
    expect(e).toMatchObject({
      verb: "auth",
      time: "2026-11-20T02:07:00.000Z",
      resource: { uri: "arn:aws:iam::123456789012:role/ml-train-pod-identity", type: "role" },
    });
    const wire = JSON.stringify(r.wire);
    for (const planted of ["PLANTED-POD-IDENTITY-JWT", "PLANTED-SESSION-TOKEN", "PLANTED-SECRET-KEY"])
      expect(wire).not.toContain(planted);
  });

  it("AWSAccount identities: anonymous S3 requests share the server access log's alias; other accounts by id", () => {
    const rec = (accountId: string) =>
      JSON.stringify({
        eventVersion: "1.08",
        userIdentity: { type: "AWSAccount", principalId: "", accountId },
        eventTime: "2026-11-20T10:23:01Z",
        eventSource: "s3.amazonaws.com",
        eventName: "GetObject",
        requestParameters: { bucketName: "ml-public-example", key: "readme.md" },
        eventID: `acct-${accountId}`,
        errorCode: "AccessDenied",
      });
    const anon = one(cloudtrail, rec("anonymous"));
    expect(anon.actor).toMatchObject({ principal: "anonymous", links: ["aws-anonymous:ml-public-example"] });
    expect(anon).toMatchObject({ outcome: "failure", status_code: 403 });
    expect(one(cloudtrail, rec("210987654321")).actor.links).toEqual(["aws-account:210987654321"]);
  });

  it("service events without a userIdentity type are attributed to the invoking service", () => {
    const e = one(
      cloudtrail,
      JSON.stringify({
        eventVersion: "1.08",
        userIdentity: { accountId: "123456789012", invokedBy: "secretsmanager.amazonaws.com" },
        eventTime: "2026-11-20T10:30:00Z",
        eventSource: "secretsmanager.amazonaws.com",
        eventName: "RotationSucceeded",
        eventType: "AwsServiceEvent",
        eventID: "rot-1",
        recipientAccountId: "123456789012",
        awsRegion: "us-east-1",
        additionalEventData: {
          SecretId: "arn:aws:secretsmanager:us-east-1:123456789012:secret:ml/db-AbC123",
        },
      }),
    );
    expect(e.actor).toMatchObject({
      principal: "secretsmanager.amazonaws.com",
      links: ["aws-service:secretsmanager.amazonaws.com"],
    });
    expect(e.resource.uri).toBe("aws-secretsmanager://123456789012/us-east-1/ml/db");
  });
});
