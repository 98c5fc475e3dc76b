/**
 * CloudTrail records in the shapes AWS really emits, beyond the basic fixtures: eventVersion 1.08–1.11
 * fields, IRSA web identity federation followed by calls of the session it created, role chaining,
 * Secrets Manager writes and service events, KMS on behalf of Secrets Manager, S3 data events of every
 * family (multipart, copy, multi-object delete, directory buckets, access points), every userIdentity
 * type, sign-in verdicts without errorCode, EventBridge detail types, and the files that sit next to log
 * files (digest, Insights) or are exported (Lake query results). Fixtures are written from the CloudTrail
 * record contents / userIdentity references and redacted (example.com, 192.0.2.x, 2001:db8::, 123456789012).
 */
import type { NormalizedEvent } from "@identrail/schema";
import { describe, expect, it } from "vitest";
import { cloudtrail } from "../src/sources/cloudtrail";
import { fixture, run } from "./helpers";

const byOp = (events: NormalizedEvent[], op: string) => events.filter((e) => e.operation === op);

describe("cloudtrail: an IRSA workload's log file (mixed management and data events)", () => {
  const r = run(cloudtrail, fixture("cloudtrail/irsa-session-log-file.json"));
  const [
    fed,
    getSecret,
    decrypt,
    get,
    put,
    ,
    part,
    complete,
    copy,
    delObjs,
    list,
    head,
    denied,
    chain,
    xacct,
  ] = r.events;

  it("every record is accepted and normalized once", () => {
    expect(r.decodeErrors).toEqual([]);
    expect(r.rejected).toEqual([]);
    expect(r.failed).toEqual([]);
    expect(r.events).toHaveLength(15);
    expect(new Set(r.events.map((e) => e.id)).size).toBe(15);
  });

  it("web identity federation: the service account is the actor, the role and the session it got are linked", () => {
    expect(fed).toMatchObject({
      operation: "AssumeRoleWithWebIdentity",
      verb: "auth",
      time: "2026-11-20T04:00:01.000Z",
      resource: { uri: "arn:aws:iam::123456789012:role/ml-batch-irsa", type: "role" },
      outcome: "success",
    });
    expect(fed.actor).toMatchObject({
      principal: "system:serviceaccount:ml-batch:feature-builder",
      type: "service_account",
      links: ["k8s-sa:prod-eu:ml-batch:feature-builder", "aws-role:123456789012:ml-batch-irsa"],
    });
    expect(fed.attrs.role_session_name).toBe("botocore-session-1795000000");
  });

  it("every later call of the session resolves through the same role alias", () => {
    for (const e of r.events.slice(1, 14)) {
      expect(e.actor.links, e.operation).toEqual(["aws-role:123456789012:ml-batch-irsa"]);
      expect(e.actor.session).toBe(
        "arn:aws:sts::123456789012:assumed-role/ml-batch-irsa/botocore-session-1795000000",
      );
      expect(e.actor.credential_id).toBe("ASIAEXAMPLEIRSA00001");
    }
    expect(getSecret).toMatchObject({
      verb: "read",
      resource: {
        uri: "aws-secretsmanager://123456789012/us-east-1/ml-batch/feature-store/db",
        type: "secret",
      },
    });
    expect(getSecret.attrs.version_stage).toBe("AWSCURRENT");
  });

  it("KMS Decrypt that Secrets Manager makes for the caller: the key from resources, the secret from the encryption context", () => {
    expect(decrypt.resource).toMatchObject({
      uri: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
      type: "AWS::KMS::Key",
    });
    expect(decrypt.actor.attrs.invoked_by).toBe("secretsmanager.amazonaws.com");
    expect(decrypt.attrs.secret_arn).toBe(
      "arn:aws:secretsmanager:us-east-1:123456789012:secret:ml-batch/feature-store/db-Qr7tXz",
    );
    expect(decrypt.src_ip).toBe("secretsmanager.amazonaws.com");
  });

  it("S3 data events: keys with spaces and non-ASCII, key only in resources, bytes each way", () => {
    expect(get).toMatchObject({
      verb: "read",
      bytes_out: 8388608,
      resource: { uri: "s3://ml-features-example/features/2026/11/20/part 0001.parquet", type: "object" },
    });
    expect(get.attrs.authentication_type).toBe("AuthHeader");
    expect(put).toMatchObject({
      verb: "write",
      bytes_in: 1048576,
      resource: { uri: "s3://ml-features-example/out/run=42/état.json" },
    });
    expect(part).toMatchObject({ operation: "UploadPart", verb: "write", bytes_in: 16777216 });
    expect(complete).toMatchObject({ operation: "CompleteMultipartUpload", verb: "write" });
    expect(head).toMatchObject({
      verb: "other",
      resource: { uri: "s3://ml-features-example/features/_SUCCESS" },
    });
  });

  it("CopyObject keeps a versioned copy source; DeleteObjects and listings target the bucket", () => {
    expect(copy.attrs.copy_source).toBe(
      "s3://ml-models-example/ckpt/step-2000.pt?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
    );
    expect(copy.resource.uri).toBe("s3://ml-share-example/handoff/step-2000.pt");
    // CloudTrail does not log the keys of a multi-object delete (they are in the request body).
    expect(delObjs).toMatchObject({
      verb: "delete",
      resource: { uri: "s3://ml-scratch-example/", type: "bucket" },
    });
    expect(list).toMatchObject({
      verb: "list",
      resource: { uri: "s3://ml-features-example/", type: "bucket" },
    });
    expect(list.attrs.prefix).toBe("features/2026/");
  });

  it("AccessDenied over a VPC endpoint is a 403 failure with the message as reason", () => {
    expect(denied).toMatchObject({
      outcome: "failure",
      status_code: 403,
      reason: "AccessDenied: Access Denied",
    });
    expect(denied.attrs.vpc_endpoint).toBe("vpce-0a1b2c3d4e5f60718");
  });

  it("role chaining: AssumeRole names the target role; the chained session keeps its source identity", () => {
    expect(chain).toMatchObject({
      verb: "auth",
      resource: { uri: "arn:aws:iam::210987654321:role/partner-data-reader", type: "role" },
    });
    expect(chain.attrs.target_role).toBe("aws-role:210987654321:partner-data-reader");
    expect(chain.attrs.shared_event_id).toBe("5d2a0000-0000-4000-8000-0000000000aa");
    expect(xacct.actor.links).toEqual(["aws-role:210987654321:partner-data-reader"]);
    expect(xacct.actor.attrs.source_identity).toBe("feature-builder");
    expect(xacct.resource.uri).toBe("aws-secretsmanager://210987654321/us-east-1/partner/api-token");
  });

  it("no session token of either credential survives accept", () => {
    const wire = JSON.stringify(r.wire);
    expect(wire).not.toContain("PLANTED");
    // The access key ids stay: they name the credential, they are not secret.
    expect(wire).toContain("ASIAEXAMPLECHAIN0001");
  });
});

describe("cloudtrail: Secrets Manager writes, batch by filters, service events", () => {
  const r = run(cloudtrail, fixture("cloudtrail/secrets-manager-writes.ndjson"));
  const op = (name: string) => byOp(r.events, name)[0];

  it("secret material and generated passwords never leave the collector", () => {
    expect(r.rejected).toEqual([]);
    const wire = JSON.stringify(r.wire);
    expect(wire).not.toContain("PLANTED");
    expect(wire).not.toContain("UExBTlRFRC1CSU5BUlk=");
    // What is not secret stays for the investigation.
    expect(wire).toContain("ML batch API key");
    expect(wire).toContain("rotate-db");
  });

  it("writes are write/create/update on the secret's URI", () => {
    expect(op("PutSecretValue")).toMatchObject({
      verb: "write",
      resource: {
        uri: "aws-secretsmanager://123456789012/us-east-1/ml-batch/feature-store/db",
        type: "secret",
      },
    });
    expect(op("CreateSecret")).toMatchObject({ verb: "create", resource: { name: "ml-batch/new-api-key" } });
    expect(op("UpdateSecret").resource.uri).toBe(
      "aws-secretsmanager://123456789012/us-east-1/ml-batch/new-api-key",
    );
    expect(op("RotateSecret")).toMatchObject({
      verb: "update",
      resource: { name: "ml-batch/feature-store/db" },
    });
    expect(op("DescribeSecret").resource.type).toBe("secret-metadata");
  });

  it("BatchGetSecretValue by filters reads the region's secrets and keeps the filters", () => {
    const e = op("BatchGetSecretValue");
    expect(e).toMatchObject({
      verb: "read",
      resource: { uri: "aws-secretsmanager://123456789012/us-east-1/*" },
    });
    expect(e.attrs.secret_filters).toBe("name=ml-batch/,tag-key=team");
  });

  it("GetRandomPassword touches no secret", () => {
    expect(op("GetRandomPassword").resource).toMatchObject({
      uri: "aws://secretsmanager.amazonaws.com/GetRandomPassword",
      type: "api",
    });
  });

  it("a missing secret is a 404; rotation service events name the secret and the service", () => {
    expect(op("GetSecretValue")).toMatchObject({ outcome: "failure", status_code: 404 });
    expect(op("RotationSucceeded").actor.links).toEqual(["aws-service:secretsmanager.amazonaws.com"]);
    expect(op("RotationSucceeded").resource.uri).toBe(
      "aws-secretsmanager://123456789012/us-east-1/ml-batch/feature-store/db",
    );
  });
});

describe("cloudtrail: userIdentity types and sign-in events", () => {
  const r = run(cloudtrail, fixture("cloudtrail/identity-types.ndjson"));
  const at = (i: number) => r.events[i];

  it("every record yields one event whose actor has an alias", () => {
    expect(r.rejected).toEqual([]);
    expect(r.events).toHaveLength(12);
    for (const e of r.events) expect(e.actor.links.length, e.operation).toBeGreaterThan(0);
    expect(JSON.stringify(r.wire)).not.toContain("PLANTED");
  });

  it("AWSService assuming a role is the service", () => {
    expect(at(0).actor).toMatchObject({ principal: "lambda.amazonaws.com", type: "workload" });
    expect(at(0).attrs.target_role).toBe("aws-role:123456789012:rotate-db-role-x1y2z3");
  });

  it("Unknown identities are told apart by their user name within the account", () => {
    expect(at(1).actor).toMatchObject({ principal: "alice", links: ["aws-principal:123456789012:alice"] });
    expect(at(1).verb).toBe("auth");
    expect(at(2).actor).toMatchObject({
      principal: "bob@example.com",
      links: ["aws-principal:bob@example.com"],
    });
  });

  it("IdentityCenterUser is the identity-store user, a human, with the bearer token's id as credential", () => {
    expect(at(3).actor).toMatchObject({
      principal: "a1b2c3d4-0000-4000-8000-00000000c0de",
      type: "human",
      links: ["aws-sso-user:d-1234567890:a1b2c3d4-0000-4000-8000-00000000c0de"],
      credential_id: "EXAMPLEcredentialIdVHULjJdTUdPJfofVa1sufHDoj7aYcOYcx",
    });
  });

  it("SAML federation is a human linked to the role; FederatedUser keeps its alias", () => {
    expect(at(4).actor).toMatchObject({ principal: "alice@example.com", type: "human" });
    expect(at(4).actor.links).toContain("aws-role:123456789012:SAML-DataEngineer");
    expect(at(5).actor.links).toEqual(["aws-federated:123456789012:build-bot"]);
  });

  it("web identities: the issuer is named the same whether CloudTrail gives the provider ARN or the issuer", () => {
    expect(at(6).actor.links[0]).toBe(
      "web-identity:token.actions.githubusercontent.com:repo:example-org/ml-pipelines:ref:refs/heads/main",
    );
    // IRSA without userName: the service account from the principal id / token subject.
    expect(at(7).actor).toMatchObject({
      principal: "system:serviceaccount:kube-system:ebs-csi-controller-sa",
      type: "service_account",
      links: [
        "k8s-sa:prod-eu:kube-system:ebs-csi-controller-sa",
        "aws-role:123456789012:AmazonEKS_EBS_CSI_DriverRole",
      ],
    });
    // A refused federation is a 403 failure, still attributed to the service account that tried.
    expect(at(8)).toMatchObject({ outcome: "failure", status_code: 403 });
    expect(at(8).actor.principal).toBe("system:serviceaccount:ml-batch:intruder");
  });

  it("a failed console sign-in has no errorCode: the ConsoleLogin verdict makes it a 401 failure", () => {
    expect(at(9)).toMatchObject({
      operation: "ConsoleLogin",
      verb: "auth",
      outcome: "failure",
      status_code: 401,
      reason: "Failed authentication",
    });
    expect(at(9).actor.links).toEqual(["aws-user:123456789012:ci-bot"]);
  });

  it("root acting from a console session; a role session on behalf of an Identity Center user", () => {
    expect(at(10).actor).toMatchObject({ type: "human", links: ["aws-user:123456789012:root"] });
    expect(at(10).attrs.session_credential_from_console).toBe("true");
    expect(at(11).actor.links).toEqual(["aws-role:123456789012:AWSReservedSSO_MLOps_0123456789abcdef"]);
    expect(at(11).actor.attrs.on_behalf_of_user).toBe("b2c3d4e5-0000-4000-8000-00000000ca01");
  });

  it("an unknown IAM user's failed sign-in still gets an alias from the hidden user name", () => {
    const rec = JSON.parse(fixture("cloudtrail/identity-types.ndjson").split("\n")[9]);
    rec.userIdentity = {
      type: "IAMUser",
      principalId: "",
      accountId: "123456789012",
      accessKeyId: "",
      userName: "HIDDEN_DUE_TO_SECURITY_REASONS",
    };
    const e = run(cloudtrail, JSON.stringify(rec)).events[0];
    expect(e.actor.links).toEqual(["aws-principal:123456789012:HIDDEN_DUE_TO_SECURITY_REASONS"]);
    expect(e.outcome).toBe("failure");
  });

  it("sign-in success stays a success", () => {
    const rec = JSON.parse(fixture("cloudtrail/identity-types.ndjson").split("\n")[9]);
    rec.responseElements = { ConsoleLogin: "Success" };
    rec.errorMessage = undefined;
    expect(run(cloudtrail, JSON.stringify(rec)).events[0]).toMatchObject({
      outcome: "success",
      status_code: 200,
    });
  });
});

describe("cloudtrail: S3 directory buckets, access points, account-level calls", () => {
  const r = run(cloudtrail, fixture("cloudtrail/s3-data-events.ndjson"));

  it("S3 Express One Zone data events: the key from the AWS::S3Express::Object ARN", () => {
    expect(r.events[0]).toMatchObject({
      verb: "read",
      bytes_out: 65536,
      resource: { uri: "s3://ml-hot-example--use1-az4--x-s3/shards/0007.bin", type: "object" },
    });
  });

  it("through an access point, presigned: access point ARN and QueryString kept, the signature and token not", () => {
    expect(r.events[1].attrs).toMatchObject({
      access_point_arn: "arn:aws:s3:us-east-1:123456789012:accesspoint/features-ap",
      authentication_type: "QueryString",
    });
    expect(JSON.stringify(r.wire)).not.toContain("PLANTED");
  });

  it("ListBuckets has no bucket: an API resource, not s3:///", () => {
    expect(r.events[2]).toMatchObject({
      verb: "list",
      resource: { uri: "aws://s3.amazonaws.com/ListBuckets", type: "api" },
    });
  });
});

describe("cloudtrail: delivery wrappers and files that are not event records", () => {
  it("EventBridge: API calls, service events and console sign-ins unwrap to their detail", () => {
    const r = run(cloudtrail, fixture("cloudtrail/eventbridge-events.ndjson"));
    expect(r.events.map((e) => e.operation)).toEqual(["GetSecretValue", "RotationStarted", "ConsoleLogin"]);
    expect(r.events[0].attrs.secret_arn).toBe(
      "arn:aws:secretsmanager:us-east-1:123456789012:secret:ml-batch/feature-store/db-Qr7tXz",
    );
    expect(r.events[2]).toMatchObject({ verb: "auth", outcome: "success" });
    // S3's own "Object Created" event is not a CloudTrail record.
    expect(r.rejected).toEqual(["missing eventName"]);
  });

  it("`aws cloudtrail lookup-events` output: each CloudTrailEvent string is the record; a cut one is rejected alone", () => {
    const r = run(cloudtrail, fixture("cloudtrail/lookup-events-cli.json"));
    expect(r.events.map((e) => e.operation)).toEqual([
      "AssumeRoleWithWebIdentity",
      "GetSecretValue",
      "Decrypt",
    ]);
    expect(r.events[0].actor.links[0]).toBe("k8s-sa:prod-eu:ml-batch:feature-builder");
    expect(r.events[0].time).toBe("2026-11-20T04:00:01.000Z");
    expect(r.rejected).toEqual(["LookupEvents CloudTrailEvent: malformed JSON"]);
    expect(JSON.stringify(r.wire)).not.toContain("PLANTED");
    // One entry on its own (jq '.Events[]') works the same.
    const one = JSON.parse(fixture("cloudtrail/lookup-events-cli.json")).Events[1];
    expect(run(cloudtrail, JSON.stringify(one)).events[0].operation).toBe("GetSecretValue");
  });

  it("digest files, Insights events and Lake query results are rejected with what they are", () => {
    const cases: [string, RegExp][] = [
      ["cloudtrail/digest-file.json", /^CloudTrail digest file/],
      ["cloudtrail/insights-event.json", /^CloudTrail Insights event/],
      ["cloudtrail/lake-query-results.json", /^CloudTrail Lake query results/],
    ];
    for (const [f, re] of cases) {
      const r = run(cloudtrail, fixture(f));
      expect(r.events, f).toEqual([]);
      expect(r.decodeErrors, f).toEqual([]);
      expect(r.rejected, f).toHaveLength(1);
      expect(r.rejected[0], f).toMatch(re);
    }
  });
});
