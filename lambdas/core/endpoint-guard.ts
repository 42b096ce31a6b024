/**
 * Endpoint guard (docs/security.md): which URLs a subscription may point at, and which addresses a
 * delivery may dial. The policy only: plain functions of a URL or an address, no socket, no DNS.
 *
 * Two layers, both needed:
 * - `checkEndpointUrl` runs when a subscription is created or changed. It refuses bad schemes,
 *   user-info, `localhost` names and IP literals in a forbidden range, whatever their spelling
 *   (the WHATWG URL parser normalises `0x7f.1`, `2130706433`, `[::ffff:127.0.0.1]`… first).
 *   A host name is accepted without resolving it: it may not resolve yet.
 * - `assertDialable` and `forbiddenAddressReason` run when a delivery connects, in the HTTP adapter
 *   (lambdas/adapters/guarded-agent.ts: the guarded lookup and agents). The check is made on
 *   the address actually dialled, after DNS, so a name that resolved to a public address at creation
 *   and to 127.0.0.1 now (DNS rebinding) is refused before any connection is opened.
 *
 * `allowPrivate` (WEBHOOKS_ALLOW_PRIVATE_ENDPOINTS, local stack only) switches the address checks
 * off and allows `http:`; the URL must still be an absolute http(s) URL without user-info.
 */
import ipaddr from "ipaddr.js";

export type EndpointPolicy = { allowPrivate: boolean };

export type EndpointCheck = { ok: true; url: URL } | { ok: false; reason: string };

/** Error code of every refusal to dial an address; the sender can classify the attempt by it. */
export const FORBIDDEN_ADDRESS = "ERR_FORBIDDEN_ADDRESS";

/** Thrown (or passed to a lookup callback) when a connection would reach a forbidden address. */
export class ForbiddenAddressError extends Error {
  readonly code = FORBIDDEN_ADDRESS;

  constructor(
    /** The host name or IP literal the URL names. */
    readonly hostname: string,
    /** The address it resolved to (the literal itself for an IP literal). */
    readonly address: string,
    reason: string,
  ) {
    super(hostname === address ? `refusing to connect to ${address}: ${reason}` : `refusing to connect to ${hostname}: it resolves to ${reason}`);
    this.name = "ForbiddenAddressError";
  }
}

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

/**
 * Human labels for ipaddr.js's `range()` names. A range missing here is still refused (as a
 * "special-purpose address"): only `unicast` passes. The typings of ipaddr.js 2.5 omit some
 * names it returns (`deprecatedSiteLocal`, `discard`, `deprecatedOrchid`, `segmentRouting`),
 * hence the plain string keys.
 */
const RANGE_LABELS: Readonly<Record<string, string>> = {
  unspecified: "an unspecified address",
  broadcast: "a broadcast address",
  multicast: "a multicast address",
  linkLocal: "a link-local address",
  loopback: "a loopback address",
  carrierGradeNat: "a carrier-grade NAT address",
  private: "a private address",
  // IPv4: 192.0.0/24, TEST-NET-1/2/3, 198.18/15 benchmarking, 240/4, 192.88.99/24.
  // IPv6: 2001::/23, 2001:db8::/32 documentation, 3fff::/20.
  reserved: "a reserved address",
  uniqueLocal: "a unique local address",
  deprecatedSiteLocal: "a site-local address",
  discard: "a discard-only address",
  rfc6145: "an IPv4-translated address",
  rfc6052: "a NAT64 address",
  "6to4": "a 6to4 address",
  teredo: "a Teredo address",
  benchmarking: "a benchmarking address",
  deprecatedOrchid: "an ORCHID address",
  orchid2: "an ORCHID address",
};

/** `::/96` minus `::` and `::1`: the deprecated IPv4-compatible form, e.g. `::7f00:1` (127.0.0.1). */
function isIPv4Compatible(address: ipaddr.IPv6): boolean {
  return address.parts.slice(0, 6).every((part) => part === 0);
}

/** 2000::/3, the only IPv6 block allocated for global unicast; anything else is refused. */
function isGlobalUnicastBlock(address: ipaddr.IPv6): boolean {
  return (address.parts[0]! & 0xe000) === 0x2000;
}

/** The label of an IPv4 address's range ("a loopback address"), or undefined for public unicast. */
function ipv4Label(address: ipaddr.IPv4): string | undefined {
  const range = address.range();
  if (range === "unicast") return undefined;
  return RANGE_LABELS[range] ?? "a special-purpose address";
}

/** Why an IPv4 address may not be dialled, or undefined when it is plain public unicast. */
function ipv4Reason(address: ipaddr.IPv4): string | undefined {
  const label = ipv4Label(address);
  return label && `${label} (${address.toString()})`;
}

/** Why an IPv6 address may not be dialled, or undefined when it is plain public unicast. */
function ipv6Reason(address: ipaddr.IPv6): string | undefined {
  const shown = address.toString();
  const range = address.range();
  if (range === "ipv4Mapped") {
    // ::ffff:a.b.c.d reaches a.b.c.d: judge it by the IPv4 rules.
    const embedded = address.toIPv4Address();
    const label = ipv4Label(embedded);
    return label && `an IPv4-mapped ${label.replace(/^an? /, "")} (${shown} = ${embedded.toString()})`;
  }
  if (range !== "unicast") {
    return `${RANGE_LABELS[range] ?? "a special-purpose address"} (${shown})`;
  }
  // ipaddr.js calls ::/96 and unallocated space "unicast": refuse them here.
  if (isIPv4Compatible(address)) return `an IPv4-compatible address (${shown})`;
  if (!isGlobalUnicastBlock(address)) return `a non-global address (${shown})`;
  return undefined;
}

/**
 * Why `ip` may not be dialled, as a noun phrase naming the address ("a loopback address
 * (127.0.0.1)"), or undefined when it is plain public unicast. A string that is not an IP
 * address is refused too. Does not look at any policy: callers skip it when private
 * endpoints are allowed.
 */
export function forbiddenAddressReason(ip: string): string | undefined {
  const text = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
  if (!ipaddr.isValid(text)) return `an invalid address (${ip})`;
  const address = ipaddr.parse(text);
  return address.kind() === "ipv4" ? ipv4Reason(address as ipaddr.IPv4) : ipv6Reason(address as ipaddr.IPv6);
}

/**
 * Whether `host` (without brackets) is an IP literal, as `net.isIP` decides it for every host a
 * parsed URL can hold: dotted-quad IPv4 in plain decimal, or IPv6. (They part only on forms the URL
 * parser never yields, such as zone ids with punctuation.) Any other name is left to DNS and the
 * guarded lookup.
 */
export function isIpLiteral(host: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(host) || ipaddr.IPv6.isValid(host);
}

// ---------------------------------------------------------------------------------------------
// URLs (create / update time)
// ---------------------------------------------------------------------------------------------

/** The host of a parsed URL without the brackets of an IPv6 literal. */
function bareHost(url: URL): string {
  const host = url.hostname;
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** `localhost` and `*.localhost` (RFC 6761), any case, with or without trailing dots. */
function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.+$/, "");
  return name === "localhost" || name.endsWith(".localhost");
}

/**
 * Validates a subscription URL at create/update time. Returns the parsed, normalised URL (store
 * `url.href`) or a short reason fit for a 400 answer. Host names are not resolved here; the
 * guarded agents check what they resolve to on every connection.
 */
export function checkEndpointUrl(raw: string, policy: EndpointPolicy): EndpointCheck {
  if (typeof raw !== "string" || raw.trim() === "") {
    return { ok: false, reason: "url is required" };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "url must be an absolute URL" };
  }
  const schemeOk = url.protocol === "https:" || (policy.allowPrivate && url.protocol === "http:");
  if (!schemeOk) {
    return { ok: false, reason: policy.allowPrivate ? "url must use http or https" : "url must use https" };
  }
  if (url.username !== "" || url.password !== "") {
    return { ok: false, reason: "url must not contain credentials" };
  }
  // The URL parser already refuses an empty host for http(s); kept as a guard.
  if (url.hostname === "") return { ok: false, reason: "url must have a host" };
  if (policy.allowPrivate) return { ok: true, url };

  const host = bareHost(url);
  if (isIpLiteral(host)) {
    const reason = forbiddenAddressReason(host);
    if (reason) return { ok: false, reason: `url resolves to ${reason}` };
  } else if (isLocalhostName(host)) {
    return { ok: false, reason: "url must not point at localhost" };
  }
  return { ok: true, url };
}

// ---------------------------------------------------------------------------------------------
// Connections (dial time): the checks the HTTP adapter makes before and while it dials
// ---------------------------------------------------------------------------------------------

/**
 * Why a connection to `hostname` (as net sees it: IPv6 without brackets) must not be
 * opened without a lookup, or undefined. Only IP literals are judged; names go through the lookup.
 */
export function literalReason(hostname: string, policy: EndpointPolicy): string | undefined {
  if (policy.allowPrivate || !isIpLiteral(hostname)) return undefined;
  return forbiddenAddressReason(hostname);
}

/**
 * Throws a `ForbiddenAddressError` when `url`'s host is an IP literal in a forbidden range.
 * Node's net and tls dial IP literals directly, without calling `lookup`, so this is their check.
 * Names are left to the guarded lookup. The guarded agents (lambdas/adapters/guarded-agent.ts)
 * make the same check themselves; call this before any other kind of dial.
 */
export function assertDialable(url: URL, policy: EndpointPolicy): void {
  const host = bareHost(url);
  const reason = literalReason(host, policy);
  if (reason) throw new ForbiddenAddressError(host, host, reason);
}
