import { attemptTimeout, describeFailure } from "#adapters/attempt-failure.ts";

const coded = (code: string, message = `${code} happened`, name = "Error") => Object.assign(new Error(message), { code, name });

/**
 * The attempt log's words for a failure (docs/delivery-semantics.md): the error class first, then the
 * detail, for every error NodeHttpSender meets (its own deadline, the endpoint guard, node's net, dns,
 * tls and http client).
 */
const CASES: [what: string, err: unknown, words: string][] = [
  ["the sender's own deadline", attemptTimeout(250), "timeout: no complete response within 250 ms"],
  ["an aborted signal", Object.assign(new Error("aborted"), { name: "AbortError" }), "timeout: no complete response within 250 ms"],
  [
    "the endpoint guard",
    coded("ERR_FORBIDDEN_ADDRESS", "refusing to connect to 127.0.0.1: a loopback address (127.0.0.1)"),
    "forbidden_address: refusing to connect to 127.0.0.1: a loopback address (127.0.0.1)",
  ],
  ["a refusal", coded("ECONNREFUSED"), "connection_refused: the endpoint refused the connection"],
  ["node's socket hang up", coded("ECONNRESET", "socket hang up"), "connection_reset: the connection was closed before a complete response"],
  ["a broken pipe", coded("EPIPE"), "connection_reset: the connection was closed before a complete response"],
  [
    "a code in the cause",
    Object.assign(new Error("connect failed"), { cause: coded("ECONNREFUSED") }),
    "connection_refused: the endpoint refused the connection",
  ],
  ["no such name", coded("ENOTFOUND", "getaddrinfo ENOTFOUND nowhere.invalid"), "dns_error: getaddrinfo ENOTFOUND nowhere.invalid"],
  ["a DNS failure", coded("EAI_AGAIN", "getaddrinfo EAI_AGAIN x.test"), "dns_error: getaddrinfo EAI_AGAIN x.test"],
  ["a self-signed certificate", coded("DEPTH_ZERO_SELF_SIGNED_CERT"), "tls_error: DEPTH_ZERO_SELF_SIGNED_CERT"],
  ["a name mismatch", coded("ERR_TLS_CERT_ALTNAME_INVALID"), "tls_error: ERR_TLS_CERT_ALTNAME_INVALID"],
  ["an unknown CA", coded("UNABLE_TO_VERIFY_LEAF_SIGNATURE"), "tls_error: UNABLE_TO_VERIFY_LEAF_SIGNATURE"],
  ["not a URL", Object.assign(new TypeError("Invalid URL"), { code: "ERR_INVALID_URL" }), "invalid_url: Invalid URL"],
  ["not a URL, without a code", new TypeError("Invalid URL"), "invalid_url: Invalid URL"],
  ["anything else", coded("HPE_INVALID_CONSTANT", "Parse Error: Expected HTTP/"), "network_error: HPE_INVALID_CONSTANT Parse Error: Expected HTTP/"],
  ["a thrown string", "boom", "network_error: boom"],
  ["a very long message", new Error("m".repeat(1_000)), `network_error: ${"m".repeat(485)}`],
];

test.each(CASES)("%s", (_what, err, words) => {
  expect(describeFailure(err, 250)).toBe(words);
});
