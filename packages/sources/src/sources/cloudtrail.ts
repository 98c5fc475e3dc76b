/**
 * AWS CloudTrail records: log files as delivered to S3 (`{"Records":[…]}`; the collector gunzips),
 * EventBridge events (`{"detail-type":"AWS API Call via CloudTrail","detail":{…}}`) and bare records.
 * Record reference: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html
 * userIdentity: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html
 * S3 data events: https://docs.aws.amazon.com/AmazonS3/latest/userguide/cloudtrail-logging-s3-info.html
 * Secrets Manager: https://docs.aws.amazon.com/secretsmanager/latest/userguide/monitoring-cloudtrail.html
 */
import {
  awsRoleAlias,
  awsUserAlias,
  err,
  k8sServiceAccountId,
  ok,
  parseServiceAccountUsername,
  stableId,
} from "@identrail/core";
import type { IdentityType, NormalizedEvent, Verb } from "@identrail/schema";
import { unwrapCloudWatchLogs } from "../cloudwatch-logs";
import {
  attrSetter,
  finishEvent,
  isCredentialKeyAnyCase,
  lookup,
  mapDeep,
  REDACTED,
  safeDecodeUri,
  TOO_DEEP,
  tooDeep,
  Undecodable,
} from "../common";
import type { SourceParser } from "../types";
import {
  arr,
  decodeJsonOrNdjson,
  eventTime,
  isObj,
  nonNegInt,
  type Obj,
  obj,
  safeJsonParse,
  str,
  strArr,
} from "../util";

/** A LookupEvents record past 1 MiB could not go on the bus anyway (one message holds 896 KiB). */
const MAX_LOOKUP_EVENT = 1024 * 1024;

/**
 * An entry of `aws cloudtrail lookup-events` (LookupEvents, the console's Event history) carries the
 * record as a JSON string in `CloudTrailEvent`, next to a summary (EventId, EventName, Username …):
 * https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_Event.html
 */
function lookupEvent(e: unknown): unknown {
  if (!isObj(e) || typeof e.CloudTrailEvent !== "string") return e;
  if (e.CloudTrailEvent.length > MAX_LOOKUP_EVENT)
    return new Undecodable("LookupEvents CloudTrailEvent too large");
  const p = safeJsonParse(e.CloudTrailEvent);
  return "value" in p ? p.value : new Undecodable(`LookupEvents CloudTrailEvent: ${p.error}`);
}

function unwrap(doc: unknown, depth = 0): unknown[] {
  if (depth > 4) return [doc];
  if (Array.isArray(doc)) return doc.flatMap((d) => unwrap(d, depth + 1));
  if (!isObj(doc)) return [doc];
  if (Array.isArray(doc.Records)) return doc.Records;
  if (Array.isArray(doc.Events)) return doc.Events.map(lookupEvent);
  if (typeof doc.CloudTrailEvent === "string") return [lookupEvent(doc)];
  // A trail delivered to CloudWatch Logs and forwarded by a subscription filter (Lambda / Firehose), or
  // read back with FilterLogEvents: each log event's message is one CloudTrail record (cloudwatch-logs.ts).
  const cwl = unwrapCloudWatchLogs(doc);
  if (cwl) return cwl;
  // EventBridge wraps the CloudTrail record in `detail`.
  if (typeof doc["detail-type"] === "string" && isObj(doc.detail)) return [doc.detail];
  return [doc];
}

/** Structural checks: everything `validate` checks except the timestamp, which normalize parses itself. */
function shapeError(r: unknown): string | null {
  if (r instanceof Undecodable) return r.reason;
  if (!isObj(r)) return "record is not a JSON object";
  const v = r.eventVersion;
  if (v !== undefined && (typeof v !== "string" || !/^1\.\d+$/.test(v)))
    return "unsupported eventVersion (want 1.x)";
  if (typeof r.eventName !== "string" || r.eventName === "") return notARecord(r) ?? "missing eventName";
  if (typeof r.eventSource !== "string" || r.eventSource === "") return "missing eventSource";
  if (!isObj(r.userIdentity)) return "missing userIdentity";
  if (typeof r.eventID !== "string" || r.eventID === "") return "missing eventID";
  return null;
}

/**
 * Files that CloudTrail writes next to its log files, or exports, that hold no API call: named, so the
 * rejection says what was posted (a forwarder on the whole trail bucket sends them too).
 * - Digest files (…/CloudTrail-Digest/, log file integrity validation):
 *   https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html
 * - Insights events (…/CloudTrail-Insight/): an API call rate anomaly, with no caller (no userIdentity):
 *   https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-insights-events.html
 * - CloudTrail Lake GetQueryResults output: rows of single-column objects, nested fields flattened to text:
 *   https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_GetQueryResults.html
 */
function notARecord(r: Obj): string | undefined {
  if (Object.hasOwn(r, "digestStartTime") || Object.hasOwn(r, "digestSignatureAlgorithm"))
    return "CloudTrail digest file (log file integrity validation), not event records";
  if (r.eventType === "AwsCloudTrailInsight" || isObj(r.insightDetails))
    return "CloudTrail Insights event: an API call rate anomaly, not an API call";
  if (Array.isArray(r.QueryResultRows))
    return "CloudTrail Lake query results, not event records (post the trail's log files)";
  return undefined;
}

function validate(r: unknown): string | null {
  const invalid = shapeError(r);
  if (invalid) return invalid;
  const t = eventTime((r as Obj).eventTime);
  return "error" in t ? t.error : null;
}

/** Credential-bearing names (the shared list includes the AWS API members CloudTrail spells). */
function redactAwsCredential(k: string, v: unknown): unknown {
  if (v === null) return undefined;
  return isCredentialKeyAnyCase(k) ? REDACTED : undefined;
}

/** Secret values never appear in CloudTrail by design; this guards against a future field or a forged record. */
export function redactCloudTrail(r: Obj): Obj {
  // Spread copies the own keys in order, `__proto__` included as an own key (CopyDataProperties).
  const out: Obj = { ...r };
  for (const k of ["requestParameters", "responseElements", "additionalEventData", "serviceEventDetails"]) {
    if (k in out) out[k] = mapDeep(out[k], redactAwsCredential);
  }
  return out;
}

interface ActorInfo {
  principal: string;
  type: IdentityType;
  links: string[];
  session?: string;
  credential?: string;
  attrs: Record<string, string>;
}

const SA_SUFFIX = /system:serviceaccount:([^:\s]+):([^:\s]+)$/;

/** Every actor gets at least one alias: ARNs whose account is not 12 digits (test data, partitions) keep the raw ARN. */
function actorOf(r: Obj, cluster: string): ActorInfo {
  const a = podIdentityActor(r, cluster) ?? actorOfType(r, cluster);
  if (a.links.length === 0) {
    const u = r.userIdentity as Obj;
    // A failed console sign-in of an unknown IAM user has no ARN and an empty principalId; its userName
    // (HIDDEN_DUE_TO_SECURITY_REASONS when the name did not exist) within the account is what is left.
    const name = str(u.userName, 512);
    const acct = str(u.accountId, 32);
    const id = str(u.arn, 1024) || str(u.principalId, 512) || (name && (acct ? `${acct}:${name}` : name));
    if (id) a.links.push(`aws-principal:${id}`);
  }
  return a;
}

function actorOfType(r: Obj, cluster: string): ActorInfo {
  const u = r.userIdentity as Obj;
  const type = str(u.type, 64) ?? "";
  const arn = str(u.arn, 1024) ?? "";
  const attrs: Record<string, string> = {};
  const put = attrSetter(attrs);
  put("identity_type", type);
  put("principal_id", str(u.principalId, 512));
  put("account_id", str(u.accountId, 32));
  const credential = str(u.accessKeyId, 128) || undefined;
  const ctx = obj(u.sessionContext);
  const issuer = obj(ctx?.sessionIssuer);
  const mfa = str(obj(ctx?.attributes)?.mfaAuthenticated);
  put("mfa_authenticated", mfa);
  // sts:SourceIdentity is set by the original caller and survives role chaining (names the person behind a session).
  put("source_identity", str(ctx?.sourceIdentity, 256));
  const webId = obj(ctx?.webIdFederationData);
  put("federated_provider", str(webId?.federatedProvider, 1024));
  put("invoked_by", str(u.invokedBy, 256));
  // An IAM Identity Center user behind the call (Identity Center bearer tokens, identity-enhanced role
  // sessions): kept as attributes, not a link — one role session type serves many people.
  const onBehalfOf = obj(u.onBehalfOf);
  put("on_behalf_of_user", str(onBehalfOf?.userId, 256));
  put("identity_store_arn", str(onBehalfOf?.identityStoreArn, 1024));
  switch (type) {
    case "AssumedRole": {
      const role = awsRoleAlias(str(issuer?.arn, 1024) ?? "") ?? awsRoleAlias(arn);
      put("session_issuer", str(issuer?.arn, 1024));
      return {
        principal: arn || (str(u.principalId) ?? "unknown"),
        type: "cloud_role",
        links: role ? [role] : [],
        session: arn || undefined,
        credential,
        attrs,
      };
    }
    case "IAMUser": {
      const user = awsUserAlias(arn);
      return {
        principal: arn || (str(u.userName) ?? "unknown"),
        type: "unknown",
        links: user ? [user] : [],
        credential,
        attrs,
      };
    }
    case "Root": {
      const acct = str(u.accountId, 32) ?? /::(\d{12}):root$/.exec(arn)?.[1];
      return {
        principal: arn || "root",
        type: "human",
        links: acct ? [`aws-user:${acct}:root`] : [],
        credential,
        attrs,
      };
    }
    case "WebIdentityUser":
    case "SAMLUser":
      return webIdentityActor(r, u, cluster, credential, attrs);
    case "FederatedUser": {
      const m = /^arn:aws[a-z-]*:sts::(\d{12}):federated-user\/(.+)$/.exec(arn);
      return {
        principal: arn || "federated-user",
        type: "human",
        links: m ? [`aws-federated:${m[1]}:${m[2]}`] : [],
        credential,
        attrs,
      };
    }
    case "AWSAccount": {
      // Another account's principal (only its account id is shown), or an unauthenticated S3 request,
      // which CloudTrail writes as accountId "anonymous" (same alias as the S3 server access log's `-`).
      const acct = str(u.accountId, 64) ?? "";
      if (acct === "anonymous") {
        const bucket = str(obj(r.requestParameters)?.bucketName, 256) ?? "";
        return { principal: "anonymous", type: "unknown", links: [`aws-anonymous:${bucket}`], attrs };
      }
      return {
        principal: str(u.principalId, 512) || acct || "aws-account",
        type: "unknown",
        links: /^\d{12}$/.test(acct) ? [`aws-account:${acct}`] : [],
        credential,
        attrs,
      };
    }
    case "AWSService": {
      const svc = str(u.invokedBy, 256) ?? "aws-service";
      return { principal: svc, type: "workload", links: [`aws-service:${svc}`], credential, attrs };
    }
    case "IdentityCenterUser": {
      // A call with an IAM Identity Center bearer token (eventVersion 1.10+): no ARN, the person is
      // onBehalfOf.userId in the identity store onBehalfOf.identityStoreArn; credentialId names the token.
      const userId = str(onBehalfOf?.userId, 256);
      const store = /identitystore\/([^/]+)$/.exec(str(onBehalfOf?.identityStoreArn, 1024) ?? "")?.[1];
      return {
        principal: userId || "identity-center-user",
        type: "human",
        links: userId ? [`aws-sso-user:${store ?? ""}:${userId}`] : [],
        credential: str(u.credentialId, 512) || credential,
        attrs,
      };
    }
    default: {
      // AwsServiceEvent records (e.g. Secrets Manager RotationSucceeded) name only the service in invokedBy.
      const svc = str(u.invokedBy, 256);
      if (!arn && !str(u.principalId) && svc)
        return { principal: svc, type: "workload", links: [`aws-service:${svc}`], credential, attrs };
      // `Unknown` identities (e.g. IAM Identity Center sign-in events) may carry only a userName, with the
      // account id as principalId: the name, within the account, is what tells two of them apart.
      const userName = arn ? undefined : str(u.userName, 512);
      if (userName) {
        const acct = str(u.accountId, 32);
        put("user_name", userName);
        return {
          principal: userName,
          type: "unknown",
          links: [`aws-principal:${acct ? `${acct}:` : ""}${userName}`],
          credential,
          attrs,
        };
      }
      const principal = arn || str(u.principalId, 512) || str(u.accountId, 32) || "unknown";
      const role = arn ? (awsRoleAlias(arn) ?? awsUserAlias(arn)) : null;
      return {
        principal,
        type: role?.startsWith("aws-role:") ? "cloud_role" : "unknown",
        links: role ? [role] : [],
        credential,
        attrs,
      };
    }
  }
}

/**
 * EKS Pod Identity (https://docs.aws.amazon.com/eks/latest/userguide/pod-identities.html): the node's
 * Pod Identity Agent calls eks-auth:AssumeRoleForPodIdentity with the pod's service-account token;
 * `responseElements.subject` names the service account and `assumedRoleUser` the role session it got.
 * As with IRSA the service account is the actor and the role is linked; the calling node role is kept
 * in attrs (`caller_arn`).
 */
function podIdentityActor(r: Obj, cluster: string): ActorInfo | undefined {
  if (r.eventName !== "AssumeRoleForPodIdentity") return undefined;
  const res = obj(r.responseElements);
  const subject = obj(res?.subject);
  const ns = str(subject?.namespace, 253);
  const name = str(subject?.serviceAccount, 253);
  if (!ns || !name) return undefined;
  const base = actorOfType(r, cluster);
  const put = attrSetter(base.attrs);
  put("caller_arn", str((r.userIdentity as Obj).arn, 1024));
  put("eks_cluster", str(obj(r.requestParameters)?.clusterName, 256));
  put("pod_identity_association", str(obj(res?.podIdentityAssociation)?.associationArn, 1024));
  const links = [k8sServiceAccountId(cluster, ns, name)];
  const role = awsRoleAlias(str(obj(res?.assumedRoleUser)?.arn, 1024) ?? "");
  if (role) links.push(role);
  return {
    principal: `system:serviceaccount:${ns}:${name}`,
    type: "service_account",
    links,
    attrs: base.attrs,
  };
}

/**
 * AssumeRoleWithWebIdentity: the caller is the token's subject. An EKS IRSA token's subject is
 * `system:serviceaccount:<ns>:<name>` (userName, and the tail of principalId), so the Kubernetes service
 * account is the actor, and the role it received is linked: the record proves the SA holds that role.
 */
function webIdentityActor(
  r: Obj,
  u: Obj,
  cluster: string,
  credential: string | undefined,
  attrs: Record<string, string>,
): ActorInfo {
  const req = obj(r.requestParameters);
  const res = obj(r.responseElements);
  // The token's subject: userName, else (a successful call) responseElements.subjectFromWebIdentityToken;
  // principalId is `<provider>:<audience>:<subject>`, kept as the last resort.
  const userName = str(u.userName, 1024) || str(res?.subjectFromWebIdentityToken, 1024) || "";
  const principalId = str(u.principalId, 1024) ?? "";
  const provider = str(u.identityProvider, 1024) ?? "";
  attrSetter(attrs)("identity_provider", provider);
  const m = SA_SUFFIX.exec(userName) ?? SA_SUFFIX.exec(principalId);
  const sa = m ? parseServiceAccountUsername(`system:serviceaccount:${m[1]}:${m[2]}`) : null;
  const links: string[] = [];
  // SAML federation (AssumeRoleWithSAML) signs in a workforce user.
  let type: IdentityType = u.type === "SAMLUser" ? "human" : "unknown";
  let principal = userName || principalId || "web-identity";
  if (sa) {
    links.push(k8sServiceAccountId(cluster, sa.namespace, sa.name));
    type = "service_account";
    principal = `system:serviceaccount:${sa.namespace}:${sa.name}`;
  } else if (userName || principalId) {
    links.push(`web-identity:${providerName(provider)}:${userName || principalId}`);
  }
  for (const a of [str(req?.roleArn, 1024), str(obj(res?.assumedRoleUser)?.arn, 1024)]) {
    const role = a ? awsRoleAlias(a) : null;
    if (role) links.push(role);
  }
  return { principal, type, links, credential, attrs };
}

/**
 * An OIDC provider as its issuer host/path: CloudTrail names it by the IAM provider's ARN
 * (`arn:aws:iam::<account>:oidc-provider/<issuer>`) or by the issuer itself, depending on the event
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html#stscloudtrailexample-assumerolewithwebidentity),
 * and one subject of one issuer is one workload whichever spelling the record used.
 */
function providerName(p: string): string {
  return p.replace(/^arn:aws[a-z-]*:iam::\d*:oidc-provider\//, "").replace(/^https:\/\//, "");
}

const SM_VERBS: Record<string, [Verb, string]> = {
  GetSecretValue: ["read", "secret"],
  BatchGetSecretValue: ["read", "secret"],
  ListSecrets: ["list", "secret"],
  ListSecretVersionIds: ["list", "secret-metadata"],
  DescribeSecret: ["read", "secret-metadata"],
  GetResourcePolicy: ["read", "secret-metadata"],
  CreateSecret: ["create", "secret"],
  PutSecretValue: ["write", "secret"],
  UpdateSecret: ["update", "secret"],
  UpdateSecretVersionStage: ["update", "secret"],
  RotateSecret: ["update", "secret"],
  CancelRotateSecret: ["update", "secret"],
  DeleteSecret: ["delete", "secret"],
  RestoreSecret: ["update", "secret"],
  PutResourcePolicy: ["update", "secret-metadata"],
  DeleteResourcePolicy: ["update", "secret-metadata"],
  TagResource: ["update", "secret-metadata"],
  UntagResource: ["update", "secret-metadata"],
};

/** `arn:aws:secretsmanager:<region>:<acct>:secret:<name>-<6 random chars>` or a plain name. */
function secretRef(id: string, account: string, region: string) {
  const m = /^arn:aws[a-z-]*:secretsmanager:([^:]*):(\d*):secret:(.+)$/.exec(id);
  // AWS appends "-" and 6 random characters to the name in a secret's ARN; the name alone identifies it.
  if (m)
    return { account: m[2] || account, region: m[1] || region, name: m[3].replace(/-[A-Za-z0-9]{6}$/, "") };
  return { account, region, name: id };
}

const S3_VERBS: Record<string, Verb> = {
  GetObject: "read",
  GetObjectVersion: "read",
  SelectObjectContent: "read",
  RestoreObject: "other",
  HeadObject: "other",
  PutObject: "write",
  CopyObject: "write",
  UploadPart: "write",
  UploadPartCopy: "write",
  CompleteMultipartUpload: "write",
  CreateMultipartUpload: "other",
  PostObject: "write",
  DeleteObject: "delete",
  DeleteObjects: "delete",
  DeleteObjectVersion: "delete",
  ListObjects: "list",
  ListObjectsV2: "list",
  ListObjectVersions: "list",
  ListBucket: "list",
  ListMultipartUploadParts: "list",
  PutObjectAcl: "update",
  PutObjectTagging: "update",
  PutBucketPolicy: "update",
  DeleteBucketPolicy: "update",
  PutBucketAcl: "update",
};

function verbFromName(name: string): Verb {
  if (/^(Get|Describe|Head|Lookup|Search|Select|BatchGet)/.test(name)) return "read";
  if (/^List/.test(name)) return "list";
  if (/^(Create|Run|Start|Launch)/.test(name)) return "create";
  if (/^(Put|Update|Modify|Attach|Detach|Set|Tag|Untag|Add|Remove|Replace|Enable|Disable|Rotate)/.test(name))
    return "update";
  if (/^(Delete|Terminate|Stop|Revoke|Deregister)/.test(name)) return "delete";
  return "other";
}

/**
 * S3 ARN `arn:aws:s3:::bucket/key`, or a directory bucket's `arn:aws:s3express:<region>:<account>:bucket/<bucket>/<key>`
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-express-security-iam.html), → [bucket, key].
 */
function s3Arn(a: string): [string, string] | null {
  const m =
    /^arn:aws[a-z-]*:s3:::([^/]+)(?:\/(.*))?$/.exec(a) ??
    /^arn:aws[a-z-]*:s3express:[^:]*:\d*:bucket\/([^/]+)(?:\/(.*))?$/.exec(a);
  return m ? [m[1], m[2] ?? ""] : null;
}

function statusFor(errorCode: string): number {
  if (/AccessDenied|Unauthorized|Forbidden/i.test(errorCode)) return 403;
  if (/NotFound|NoSuch/i.test(errorCode)) return 404;
  if (/Throttl|TooManyRequests|SlowDown/i.test(errorCode)) return 429;
  if (/InvalidClientTokenId|ExpiredToken|InvalidToken|SignatureDoesNotMatch/i.test(errorCode)) return 401;
  if (/InternalError|InternalFailure|ServiceUnavailable/i.test(errorCode)) return 500;
  return 400;
}

/** What every event of one record shares (computed once per record, not once per event). */
interface EventBase {
  eventID: string;
  time: string;
  receivedAt: string;
  cluster: string;
  actor: ActorInfo;
  eventName: string;
  srcIp: string;
  userAgent: string;
  errorCode: string;
  /** errorCode, or a sign-in event whose verdict is Failure (those carry no errorCode). */
  failed: boolean;
  status: number;
  reason: string;
  attrs: Record<string, string>;
  /**
   * Whether the record yields one event, which then takes `attrs` itself. Several events (a batch) each
   * get a copy, since each adds its own keys; a copy that then grows costs a map transition per key.
   */
  oneEvent: boolean;
}

/**
 * The i-th event of a record. A module-level function rather than a closure per record: tsx/esbuild's
 * keepNames wraps every named closure in a `__name` defineProperty call, which costs more than the event.
 */
function baseEvent(
  c: EventBase,
  uri: string,
  type: string,
  verb: Verb,
  name: string | undefined,
  i: number,
): NormalizedEvent {
  const actor = c.actor;
  return {
    id: i === 0 ? stableId("cloudtrail", c.eventID) : stableId("cloudtrail", c.eventID, i),
    class_uid: 6003,
    source: "cloudtrail",
    time: c.time,
    received_at: c.receivedAt,
    cluster: c.cluster,
    identity_id: "",
    actor: {
      principal: actor.principal,
      type: actor.type,
      groups: [],
      credential_id: actor.credential,
      session: actor.session,
      links: actor.links,
      attrs: actor.attrs,
    },
    operation: c.eventName,
    verb,
    resource: { uri, type, name },
    src_ip: c.srcIp,
    user_agent: c.userAgent,
    outcome: c.failed ? "failure" : "success",
    status_code: c.status,
    reason: c.reason,
    bytes_in: 0,
    bytes_out: 0,
    raw_ref: c.eventID,
    attrs: c.oneEvent ? c.attrs : { ...c.attrs },
  };
}

export function normalizeCloudTrail(
  r: Obj,
  cluster: string,
  receivedAt: string,
): NormalizedEvent[] | { error: string } {
  // The timestamp is parsed once, here, instead of in validate and again after it.
  const invalid = shapeError(r);
  if (invalid) return { error: invalid };
  const t = eventTime(r.eventTime);
  if ("error" in t) return { error: t.error };
  const actor = actorOf(r, cluster);
  const eventName = r.eventName as string;
  const eventSource = r.eventSource as string;
  const eventID = r.eventID as string;
  const req = obj(r.requestParameters);
  const extra = obj(r.additionalEventData);
  const account = str(r.recipientAccountId, 32) ?? str((r.userIdentity as Obj).accountId, 32) ?? "";
  const region = str(r.awsRegion, 64) ?? "";
  const errorCode = str(r.errorCode, 256) ?? "";
  const errorMessage = str(r.errorMessage, 1500) ?? "";
  const signinFailed = !errorCode && signInVerdict(r, eventName) === "Failure";
  // A failed sign-in is a failed authentication: 401, like ExpiredToken and friends below.
  const status = errorCode ? statusFor(errorCode) : signinFailed ? 401 : 200;
  const attrs: Record<string, string> = {};
  const put = attrSetter(attrs);
  put("event_source", eventSource);
  put("aws_region", region);
  put("account_id", account);
  put("event_category", str(r.eventCategory, 64));
  put("event_type", str(r.eventType, 64));
  put("read_only", typeof r.readOnly === "boolean" ? String(r.readOnly) : str(r.readOnly, 8));
  put("request_id", str(r.requestID, 256));
  put("vpc_endpoint", str(r.vpcEndpointId, 256));
  put("error_code", errorCode);
  put("tls_host", str(obj(r.tlsDetails)?.clientProvidedHostHeader, 512));
  put("session_credential_from_console", str(r.sessionCredentialFromConsole, 16));
  // The same call as logged in the other account of a cross-account request (eventVersion 1.05+).
  put("shared_event_id", str(r.sharedEventID, 128));

  const c: EventBase = {
    eventID,
    time: t.time,
    receivedAt,
    cluster,
    actor,
    eventName,
    srcIp: str(r.sourceIPAddress, 128) ?? "",
    userAgent: str(r.userAgent, 2048) ?? "",
    errorCode,
    failed: errorCode !== "" || signinFailed,
    status,
    reason: errorCode
      ? errorMessage
        ? `${errorCode}: ${errorMessage}`
        : errorCode
      : signinFailed
        ? errorMessage || "Failure"
        : "",
    attrs,
    oneEvent: true,
  };
  // GetRandomPassword only generates a string: no secret is read or written (it falls through to the API case).
  if (eventSource === "secretsmanager.amazonaws.com" && eventName !== "GetRandomPassword") {
    const [verb, type] = lookup(SM_VERBS, eventName) ?? [verbFromName(eventName), "secret"];
    const ids = eventName === "BatchGetSecretValue" ? strArr(req?.secretIdList, 64) : [];
    put("version_stage", str(req?.versionStage, 256));
    // BatchGetSecretValue by `filters` ([{key, values}]) instead of secretIdList: what was asked for.
    const filters = arr(req?.filters)
      .map((f) => `${str(obj(f)?.key, 64) ?? ""}=${strArr(obj(f)?.values, 16).join("|")}`)
      .join(",");
    put("secret_filters", filters);
    // Service events (RotationSucceeded …) name the secret in additionalEventData.SecretId.
    const one = str(req?.secretId, 2048) ?? str(req?.name, 2048) ?? str(extra?.SecretId, 2048);
    if (one) ids.push(one);
    if (ids.length === 0) {
      // ListSecrets, or a batch by filters: the whole account/region's secrets are the target.
      return [
        finishEvent(baseEvent(c, `aws-secretsmanager://${account}/${region}/*`, type, verb, undefined, 0)),
      ];
    }
    c.oneEvent = ids.length === 1;
    return ids.map((id, i) => {
      const s = secretRef(id, account, region);
      const e = baseEvent(
        c,
        `aws-secretsmanager://${s.account}/${s.region}/${s.name}`,
        type,
        verb,
        s.name,
        i,
      );
      if (id.startsWith("arn:")) e.attrs.secret_arn = id;
      if (ids.length > 1) e.attrs.batch_size = String(ids.length);
      return finishEvent(e);
    });
  }

  // S3 Express One Zone directory buckets log the same data events under their own source:
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-express-log-data-events.html
  if (eventSource === "s3.amazonaws.com" || eventSource === "s3express.amazonaws.com") {
    const verb = lookup(S3_VERBS, eventName) ?? verbFromName(eventName);
    let bucket = str(req?.bucketName, 256) ?? "";
    let key = str(req?.key, 2048);
    let accessPoint: string | undefined;
    for (const res of arr(r.resources)) {
      const a = obj(res);
      const type = str(a?.type);
      // A request through an access point lists the access point's ARN among the resources:
      // https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-points-monitoring-logging.html
      if (type === "AWS::S3::AccessPoint") accessPoint ??= str(a?.ARN, 1024);
      // Some data events carry the key only in resources[] (AWS::S3::Object, or AWS::S3Express::Object for
      // a directory bucket).
      if (key !== undefined || (type !== "AWS::S3::Object" && type !== "AWS::S3Express::Object")) continue;
      const p = s3Arn(str(a?.ARN, 3000) ?? "");
      if (p && (!bucket || p[0] === bucket)) {
        bucket = p[0];
        key = p[1];
      }
    }
    // Account-level calls (ListBuckets, ListDirectoryBuckets, CreateSession without a bucket) have no bucket.
    const e = bucket
      ? baseEvent(c, `s3://${bucket}/${key ?? ""}`, key ? "object" : "bucket", verb, key || bucket, 0)
      : baseEvent(c, `aws://${eventSource}/${eventName}`, "api", verb, undefined, 0);
    if (accessPoint) e.attrs.access_point_arn = accessPoint;
    e.bytes_in = nonNegInt(extra?.bytesTransferredIn);
    e.bytes_out = nonNegInt(extra?.bytesTransferredOut);
    const copy = str(req?.["x-amz-copy-source"], 3000) ?? str(req?.copySource, 3000);
    if (copy) e.attrs.copy_source = copySourceUri(copy);
    if (bucket) e.attrs.bucket = bucket;
    // QueryString is a presigned URL; same attribute as the server access log's Authentication Type.
    const auth = str(extra?.AuthenticationMethod, 64);
    if (auth) e.attrs.authentication_type = auth;
    const prefix = verb === "list" ? str(req?.prefix, 1024) : undefined;
    if (prefix) e.attrs.prefix = prefix;
    return [finishEvent(e)];
  }

  if (eventName === "AssumeRoleForPodIdentity") {
    const session = str(obj(obj(r.responseElements)?.assumedRoleUser)?.arn, 1024) ?? "";
    const role = awsRoleAlias(session);
    const m = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\//.exec(session);
    const roleArn = m ? `arn:${m[1]}:iam::${m[2]}:role/${m[3]}` : undefined;
    const e = baseEvent(
      c,
      roleArn ?? `aws://${eventSource}/${eventName}`,
      roleArn ? "role" : "api",
      "auth",
      roleArn,
      0,
    );
    if (role) e.attrs.target_role = role;
    return [finishEvent(e)];
  }

  if (eventSource === "sts.amazonaws.com" || str(req?.roleArn)) {
    const roleArn = str(req?.roleArn, 1024);
    const role = roleArn ? awsRoleAlias(roleArn) : null;
    const verb: Verb =
      eventName.startsWith("AssumeRole") || eventName === "GetFederationToken"
        ? "auth"
        : verbFromName(eventName);
    const e = baseEvent(
      c,
      roleArn ?? `aws://${eventSource}/${eventName}`,
      roleArn ? "role" : "api",
      verb,
      roleArn,
      0,
    );
    if (role) e.attrs.target_role = role;
    const sessionName = str(req?.roleSessionName, 256);
    if (sessionName) e.attrs.role_session_name = sessionName;
    return [finishEvent(e)];
  }

  if (eventSource === "iam.amazonaws.com") {
    const e = iamEvent(c, req, obj(r.responseElements), account, eventName);
    if (e) return [finishEvent(e)];
  }

  // Sign-in events (ConsoleLogin, IAM Identity Center CredentialVerification …) authenticate the caller.
  const verb = eventSource === "signin.amazonaws.com" ? "auth" : verbFromName(eventName);
  // `resources` lists what the call acted on (ARN and type, e.g. the KMS key of a Decrypt):
  // https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html
  const res = obj(arr(r.resources)[0]);
  const resArn = str(res?.ARN, 2048);
  const e = resArn
    ? baseEvent(c, resArn, str(res?.type, 256) || "resource", verb, resArn, 0)
    : baseEvent(c, `aws://${eventSource}/${eventName}`, "api", verb, undefined, 0);
  // KMS calls Secrets Manager makes for a caller name the secret in the encryption context:
  // https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html#security-encryption-encryption-context
  const secretArn = str(obj(req?.encryptionContext)?.SecretARN, 2048);
  if (secretArn) e.attrs.secret_arn = secretArn;
  return [finishEvent(e)];
}

/**
 * IAM calls name what they change in requestParameters: `roleName`, `userName` or `groupName`, and the
 * policy (`policyArn` for managed policies, `policyName` + `policyDocument` for inline ones)
 * (https://docs.aws.amazon.com/IAM/latest/APIReference/API_Operations.html). The resource is the IAM
 * principal (`aws-iam://<account>/<role|user|group>/<name>`), or the managed policy's ARN for policy
 * versions; attrs `policy` name the policy and `policy_actions` the actions an inline document allows
 * (CloudTrail logs the document URL-encoded), so privilege changes can be judged by what they grant.
 * CreateAccessKey's new key id is kept as `access_key_id` (the secret half is redacted at the collector).
 */
function iamEvent(
  c: EventBase,
  req: Obj | undefined,
  resp: Obj | undefined,
  account: string,
  eventName: string,
) {
  const verb = verbFromName(eventName);
  let target: [string, string, string] | undefined;
  for (const [key, kind] of [
    ["roleName", "role"],
    ["userName", "user"],
    ["groupName", "group"],
    ["instanceProfileName", "instance-profile"],
  ] as const) {
    const name = str(req?.[key], 256);
    if (name) {
      target = [`aws-iam://${account}/${kind}/${name}`, `iam-${kind}`, name];
      break;
    }
  }
  const policyArn = str(req?.policyArn, 2048);
  if (!target && policyArn) target = [policyArn, "iam-policy", policyArn];
  // CreateAccessKey / CreateLoginProfile without userName act on the caller's own IAM user.
  if (!target) return undefined;
  const e = baseEvent(c, target[0], target[1], verb, target[2], 0);
  const policy = policyArn ?? str(req?.policyName, 256);
  if (policy) e.attrs.policy = policy;
  const actions = policyActions(req?.policyDocument);
  if (actions) e.attrs.policy_actions = actions;
  const key = str(obj(resp?.accessKey)?.accessKeyId, 128);
  if (key) e.attrs.access_key_id = key;
  return e;
}

/** The Allow actions of an IAM policy document (JSON, URL-encoded in CloudTrail), comma-joined, or undefined. */
function policyActions(doc: unknown): string | undefined {
  if (typeof doc !== "string" || doc.length > 131_072) return undefined;
  let text = doc;
  if (!text.trimStart().startsWith("{")) {
    try {
      text = decodeURIComponent(text);
    } catch {
      return undefined;
    }
  }
  const p = safeJsonParse(text);
  if (!("value" in p) || !isObj(p.value)) return undefined;
  const out = new Set<string>();
  const stmts = p.value.Statement;
  for (const st of Array.isArray(stmts) ? stmts : [stmts]) {
    const o = obj(st);
    if (o?.Effect !== "Allow") continue;
    const a = o.Action;
    for (const x of Array.isArray(a) ? a : [a]) if (typeof x === "string") out.add(x.slice(0, 128));
    if (typeof o.NotAction === "string" || Array.isArray(o.NotAction)) out.add("NotAction");
  }
  return out.size ? [...out].slice(0, 32).join(",") : undefined;
}

/**
 * Sign-in events record no errorCode when they fail: the verdict is `responseElements.ConsoleLogin`
 * ("Success" / "Failure", with errorMessage "Failed authentication") or, for IAM Identity Center sign-in,
 * `serviceEventDetails.<eventName>` (CredentialVerification, UserAuthentication …):
 * https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-aws-console-sign-in-events.html
 * https://docs.aws.amazon.com/singlesignon/latest/userguide/understanding-sign-in-events.html
 */
function signInVerdict(r: Obj, eventName: string): string | undefined {
  for (const o of [obj(r.responseElements), obj(r.serviceEventDetails)])
    if (o && Object.hasOwn(o, eventName)) return str(o[eventName], 64);
  return undefined;
}

/** `x-amz-copy-source` is `bucket/key` (URL-encoded, optionally `?versionId=`), with or without a leading slash. */
function copySourceUri(v: string): string {
  const [path, query] = v.split("?", 2);
  const p = safeDecodeUri(path.replace(/^\//, ""));
  const arnish = s3Arn(p);
  const uri = arnish ? `s3://${arnish[0]}/${arnish[1]}` : `s3://${p}`;
  const version = query ? /(?:^|&)versionId=([^&]*)/.exec(query)?.[1] : undefined;
  return version ? `${uri}?versionId=${version}` : uri;
}

export const cloudtrail: SourceParser = {
  source: "cloudtrail",
  contentTypes: ["application/json", "application/x-ndjson", "application/jsonl", "text/plain"],
  decode: (text) => decodeJsonOrNdjson(text, (d) => unwrap(d)),
  accept(record) {
    if (tooDeep(record)) return err(TOO_DEEP);
    const invalid = validate(record);
    if (invalid) return err(invalid);
    const r = record as Obj;
    const u = r.userIdentity as Obj;
    const key =
      str(u.arn) ||
      str(u.userName) ||
      str(u.principalId) ||
      str(u.invokedBy) ||
      str(obj(u.onBehalfOf)?.userId) ||
      "unknown";
    return ok({ key, record: redactCloudTrail(r) });
  },
  redact: (record) =>
    tooDeep(record) ? { redacted: TOO_DEEP } : isObj(record) ? redactCloudTrail(record) : undefined,
  normalize(record, ctx) {
    if (tooDeep(record)) return err(TOO_DEEP);
    if (!isObj(record)) return err("record is not a JSON object");
    const n = normalizeCloudTrail(record, ctx.cluster, ctx.receivedAt);
    if ("error" in n) return err(n.error);
    return ok({ events: n });
  },
};
