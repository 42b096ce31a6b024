/**
 * The dial-time half of the endpoint guard (docs/security.md, "At connect time"): node:http and
 * node:https keep-alive agents that check every new connection. The policy itself (which addresses
 * are forbidden, and why) is the core's: lambdas/core/endpoint-guard.ts.
 * - a name is resolved through `guardedLookup`, which asks for all of its addresses and refuses the
 *   connection when any of them is forbidden, so the address actually dialled is checked (DNS
 *   rebinding);
 * - an IP-literal host, which net and tls dial without calling `lookup`, is judged before the socket
 *   is opened.
 * Node's http client never follows redirects, so a 3xx stays a failed attempt.
 */
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import type { Duplex } from "node:stream";
import { type EndpointPolicy, ForbiddenAddressError, forbiddenAddressReason } from "#core/endpoint-guard.ts";

/** A `dns.lookup`-style resolver asked for every address (`all: true`); `dns.lookup` is one. */
export type Resolver = (
  hostname: string,
  options: dns.LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void,
) => void;

type LookupCallback = Parameters<net.LookupFunction>[2];

/** The option form of `dns.lookup`'s second argument, whichever shape the caller used. */
function lookupOptions(options: unknown): dns.LookupOptions {
  if (typeof options === "number") return { family: options };
  if (options !== null && typeof options === "object") return options as dns.LookupOptions;
  return {};
}

/**
 * A `lookup` for `net.connect` / `tls.connect` (and the agents' `lookup` option): resolves with
 * `resolve` (default `dns.lookup`), always asking for every address, and fails with a
 * `ForbiddenAddressError` (code ERR_FORBIDDEN_ADDRESS) when ANY of them is forbidden, so a name
 * with one public and one private record is refused too. Answers in the shape asked for:
 * a list when `options.all`, else the first address and its family.
 * Node does not call `lookup` for IP literals: the agents judge those themselves (and the sender
 * calls `assertDialable` first).
 */
export function guardedLookup(policy: EndpointPolicy, resolve: Resolver = dns.lookup): net.LookupFunction {
  return function lookup(hostname: string, options: unknown, callback?: LookupCallback): void {
    // dns.lookup also accepts (hostname, callback) and (hostname, family, callback).
    const done = (typeof options === "function" ? options : callback) as LookupCallback;
    const asked = lookupOptions(typeof options === "function" ? undefined : options);
    const fail = (err: NodeJS.ErrnoException) => done(err, asked.all ? [] : "");

    resolve(hostname, { ...asked, all: true }, (err, addresses) => {
      if (err) return fail(err);
      if (!addresses || addresses.length === 0) {
        const notFound: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
        notFound.code = "ENOTFOUND";
        return fail(notFound);
      }
      if (!policy.allowPrivate) {
        for (const { address } of addresses) {
          const reason = forbiddenAddressReason(address);
          if (reason) return fail(new ForbiddenAddressError(hostname, address, reason));
        }
      }
      if (asked.all) return done(null, addresses);
      const first = addresses[0]!;
      return done(null, first.address, first.family);
    });
  } as net.LookupFunction;
}

export interface GuardedAgentOptions {
  /** Upper bound of connections per origin (per agent). Default 50. */
  maxSockets?: number;
  /**
   * An idle kept-alive socket is closed after this long, ms. Shorter than the servers' own idle
   * timeouts (Node's http server 5 s, Apache 5 s, AWS ALB 60 s, nginx 75 s), so that the client closes
   * first and a request is not sent on a socket the server is closing. A server's `Keep-Alive:
   * timeout=N` hint lowers it further (Node subtracts 1 s). Default 4 s.
   */
  freeSocketTimeoutMs?: number;
  /** Resolver behind the guarded lookup; tests inject a fake. Default `dns.lookup`. */
  resolve?: Resolver;
  /** Extra CAs trusted for TLS (tests); the system's CAs otherwise. Verification is always on. */
  ca?: string | Buffer | (string | Buffer)[];
}

export interface GuardedAgents {
  readonly http: http.Agent;
  readonly https: https.Agent;
}

/** The refusal for an IP-literal host in a forbidden range (net skips `lookup` for those), or undefined. */
function literalRefusal(host: string | null | undefined, policy: EndpointPolicy): ForbiddenAddressError | undefined {
  if (policy.allowPrivate || !host || net.isIP(host) === 0) return undefined;
  const reason = forbiddenAddressReason(host);
  return reason ? new ForbiddenAddressError(host, host, reason) : undefined;
}

type ConnectCallback = (err: Error | null, stream: Duplex) => void;

/** Refuses a forbidden literal before any socket exists; the agent hands the error to the request. */
function refuse(err: Error, callback?: ConnectCallback): undefined {
  callback?.(err, undefined as never);
  return undefined;
}

class GuardedHttpAgent extends http.Agent {
  constructor(
    private readonly policy: EndpointPolicy,
    options: http.AgentOptions,
  ) {
    super(options);
  }

  override createConnection(options: http.ClientRequestArgs, callback?: ConnectCallback): Duplex | null | undefined {
    const refusal = literalRefusal(options.host, this.policy);
    return refusal ? refuse(refusal, callback) : super.createConnection(options, callback);
  }
}

class GuardedHttpsAgent extends https.Agent {
  constructor(
    private readonly policy: EndpointPolicy,
    options: https.AgentOptions,
  ) {
    super(options);
  }

  override createConnection(options: http.ClientRequestArgs, callback?: ConnectCallback): Duplex | null | undefined {
    const refusal = literalRefusal(options.host, this.policy);
    return refusal ? refuse(refusal, callback) : super.createConnection(options, callback);
  }
}

/**
 * One keep-alive agent per scheme, living as long as the λ container: sockets reused across
 * invocations, most recently used first (`lifo`: the warmest socket, and the idle ones time out).
 */
export function createGuardedAgents(policy: EndpointPolicy, opts: GuardedAgentOptions = {}): GuardedAgents {
  const maxSockets = opts.maxSockets ?? 50;
  const common = {
    keepAlive: true,
    maxSockets,
    maxFreeSockets: maxSockets,
    // With keepAlive, the agent destroys a free socket idle this long (a busy one only emits 'timeout').
    timeout: opts.freeSocketTimeoutMs ?? 4_000,
    scheduling: "lifo",
    lookup: guardedLookup(policy, opts.resolve),
  } satisfies http.AgentOptions;
  return {
    http: new GuardedHttpAgent(policy, common),
    https: new GuardedHttpsAgent(policy, { ...common, ca: opts.ca }),
  };
}
