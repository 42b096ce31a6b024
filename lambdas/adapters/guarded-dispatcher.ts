/**
 * The dial-time half of the endpoint guard (docs/security.md): a DNS lookup that refuses forbidden
 * addresses, and the undici dispatcher every delivery goes through. The policy itself (which
 * addresses are forbidden, and why) is the core's: lambdas/core/endpoint-guard.ts.
 */
import dns from "node:dns";
import type net from "node:net";
import { Agent, buildConnector } from "undici";
import { type EndpointPolicy, ForbiddenAddressError, forbiddenAddressReason, literalReason } from "#core/endpoint-guard.ts";

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
 * A `lookup` for `net.connect` / `tls.connect` (and undici's `connect` option): resolves with
 * `resolve` (default `dns.lookup`), always asking for every address, and fails with a
 * `ForbiddenAddressError` (code ERR_FORBIDDEN_ADDRESS) when ANY of them is forbidden, so a name
 * with one public and one private record is refused too. Answers in the shape asked for:
 * a list when `options.all`, else the first address and its family.
 * Node does not call `lookup` for IP literals: see `assertDialable`.
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

export interface GuardedDispatcherOptions {
  /** TCP + TLS connect timeout, ms. Default 10 s (the attempt timeout, docs/delivery-semantics.md). */
  connectTimeout?: number;
  /** Idle keep-alive sockets are closed after this long, ms (servers' hints may lower it). Default 30 s. */
  keepAliveTimeout?: number;
  /** Upper bound of connections per origin. Default 50. */
  connections?: number;
  /** Resolver behind the guarded lookup; tests inject a fake. Default `dns.lookup`. */
  resolve?: Resolver;
}

/**
 * The undici dispatcher every delivery goes through: keep-alive connections reused across
 * invocations, a bounded pool per origin, and a connector that
 * - refuses IP-literal hosts in a forbidden range before opening a socket, and
 * - dials names through `guardedLookup`, so the resolved address is checked on every new
 *   connection (DNS rebinding).
 * Redirects: undici's `request()` and `dispatch()` never follow them (only the `redirect`
 * interceptor does, and it is not composed here), so a 3xx stays a failed attempt (docs/delivery-semantics.md).
 * Do not use this dispatcher with undici's `fetch`, which follows redirects by default unless
 * given `redirect: "manual"`.
 */
export function createGuardedDispatcher(policy: EndpointPolicy, opts: GuardedDispatcherOptions = {}): Agent {
  const connectToAddress = buildConnector({
    lookup: guardedLookup(policy, opts.resolve),
    timeout: opts.connectTimeout ?? 10_000,
  });
  const connect: buildConnector.connector = (options, callback) => {
    const reason = literalReason(options.hostname, policy);
    if (reason) {
      callback(new ForbiddenAddressError(options.hostname, options.hostname, reason), null);
      return;
    }
    // Returns the socket so that undici can cancel a pending connect.
    return connectToAddress(options, callback);
  };
  return new Agent({
    keepAliveTimeout: opts.keepAliveTimeout ?? 30_000,
    connections: opts.connections ?? 50,
    connect,
  });
}
