/**
 * SSRF guard for receiver URLs. Every address a receiver host resolves to is classified; requests
 * connect only to addresses that passed (the check runs inside the socket's DNS lookup, so a DNS
 * answer that changes between the boot check and a send — rebinding — is caught too).
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP } from "node:net";

export type AddressClass = "public" | "private" | "link-local" | "loopback" | "metadata" | "reserved";

export interface SsrfPolicy {
  allow_private: boolean;
  allow_loopback: boolean;
}

function list(entries: [string, number, "ipv4" | "ipv6"][]) {
  const b = new BlockList();
  for (const [net, prefix, type] of entries) b.addSubnet(net, prefix, type);
  return b;
}

// Cloud instance metadata endpoints (AWS IMDS/ECS, Azure IMDS and GCP share 169.254.169.254;
// AWS IPv6 IMDS fd00:ec2::254; Alibaba 100.100.100.200; Oracle 192.0.0.192). Never a receiver.
const METADATA = new BlockList();
for (const a of ["169.254.169.254", "169.254.170.2", "169.254.169.123", "100.100.100.200", "192.0.0.192"])
  METADATA.addAddress(a, "ipv4");
METADATA.addAddress("fd00:ec2::254", "ipv6");

const LOOPBACK = list([
  ["127.0.0.0", 8, "ipv4"],
  ["::1", 128, "ipv6"],
]);
// RFC 3927 / RFC 4291 §2.5.6.
const LINK_LOCAL = list([
  ["169.254.0.0", 16, "ipv4"],
  ["fe80::", 10, "ipv6"],
]);
// RFC 1918, RFC 6598 shared address space, RFC 4193 unique local.
const PRIVATE = list([
  ["10.0.0.0", 8, "ipv4"],
  ["172.16.0.0", 12, "ipv4"],
  ["192.168.0.0", 16, "ipv4"],
  ["100.64.0.0", 10, "ipv4"],
  ["fc00::", 7, "ipv6"],
]);
// "This network", multicast, reserved/broadcast, IETF protocol assignments, unspecified/multicast v6.
const RESERVED = list([
  ["0.0.0.0", 8, "ipv4"],
  ["192.0.0.0", 24, "ipv4"],
  ["224.0.0.0", 4, "ipv4"],
  ["240.0.0.0", 4, "ipv4"],
  ["::", 128, "ipv6"],
  ["ff00::", 8, "ipv6"],
]);

export function classifyAddress(address: string): AddressClass {
  let a = address;
  let type: "ipv4" | "ipv6" = isIP(a) === 6 ? "ipv6" : "ipv4";
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) reaches the IPv4 host: judge the embedded address.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) {
    a = mapped[1];
    type = "ipv4";
  }
  if (!isIP(a)) return "reserved";
  if (METADATA.check(a, type)) return "metadata";
  if (LOOPBACK.check(a, type)) return "loopback";
  if (LINK_LOCAL.check(a, type)) return "link-local";
  if (RESERVED.check(a, type)) return "reserved";
  if (PRIVATE.check(a, type)) return "private";
  return "public";
}

/** Why an address is refused under a policy, or undefined when allowed. */
export function refusal(address: string, policy: SsrfPolicy): string | undefined {
  const c = classifyAddress(address);
  if (c === "public") return undefined;
  if (c === "loopback" && policy.allow_loopback) return undefined;
  if ((c === "private" || c === "link-local") && policy.allow_private) return undefined;
  return `address class ${c} is not allowed for this receiver`;
}

export class SsrfError extends Error {}

/** Resolves a URL's host and checks every address; used at boot and in tests. */
export async function checkUrl(url: string, policy: SsrfPolicy): Promise<void> {
  const u = new URL(url);
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new SsrfError("only http(s) receiver URLs are allowed");
  if (u.username || u.password) throw new SsrfError("credentials in receiver URLs are not allowed");
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const addrs: LookupAddress[] = isIP(host)
    ? [{ address: host, family: isIP(host) }]
    : await new Promise((resolve, reject) =>
        dnsLookup(host, { all: true }, (e, a) =>
          e ? reject(new SsrfError(`cannot resolve receiver host: ${e.code}`)) : resolve(a),
        ),
      );
  for (const a of addrs) {
    const why = refusal(a.address, policy);
    if (why) throw new SsrfError(why);
  }
}

/** A `lookup` for http.request that refuses forbidden addresses at connect time. */
export function guardedLookup(policy: SsrfPolicy) {
  return (
    hostname: string,
    options: object,
    cb: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addrs) => {
      if (err) return cb(err, "");
      const list = addrs as LookupAddress[];
      for (const a of list) {
        const why = refusal(a.address, policy);
        if (why) return cb(Object.assign(new SsrfError(why), { code: "ESSRF" }), "");
      }
      if ((options as { all?: boolean }).all) return cb(null, list);
      cb(null, list[0].address, list[0].family);
    });
  };
}
