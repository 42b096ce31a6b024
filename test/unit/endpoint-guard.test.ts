import { isIP } from "node:net";
import { guardedLookup, type Resolver } from "#adapters/guarded-agent.ts";
import {
  assertDialable,
  checkEndpointUrl,
  ForbiddenAddressError,
  forbiddenAddressReason,
  FORBIDDEN_ADDRESS,
  isIpLiteral,
  type EndpointPolicy,
} from "#core/endpoint-guard.ts";

const STRICT: EndpointPolicy = { allowPrivate: false };
const DEV: EndpointPolicy = { allowPrivate: true };

/**
 * One row per URL form: what the strict policy (production) and the development policy
 * (allowPrivate) answer. `"ok"` means accepted; any other string is a fragment the refusal
 * reason must contain: the category and, for addresses, the normalised address.
 */
type Expect = "ok" | string;
const CORPUS: ReadonlyArray<readonly [url: string, strict: Expect, dev: Expect]> = [
  // Accepted names and public addresses
  ["https://example.com", "ok", "ok"],
  ["https://hooks.example.com:8443/path?q=1", "ok", "ok"],
  ["https://EXAMPLE.com./hook#frag", "ok", "ok"],
  ["https:example.com/hook", "ok", "ok"],
  ["https://8.8.8.8/", "ok", "ok"],
  ["https://[2606:4700:4700::1111]/", "ok", "ok"],
  ["https://[::ffff:8.8.8.8]/", "ok", "ok"],
  ["https://not-resolvable-yet.invalid/", "ok", "ok"],
  ["https://localhost.example.com/", "ok", "ok"],
  // Not absolute URLs / wrong schemes / credentials
  ["not a url", "must be an absolute URL", "must be an absolute URL"],
  ["/relative", "must be an absolute URL", "must be an absolute URL"],
  ["", "url is required", "url is required"],
  ["https://", "must be an absolute URL", "must be an absolute URL"],
  ["javascript:alert(1)", "url must use https", "url must use http or https"],
  ["ftp://example.com/file", "url must use https", "url must use http or https"],
  ["file:///etc/passwd", "url must use https", "url must use http or https"],
  ["data:text/plain,hi", "url must use https", "url must use http or https"],
  ["ws://example.com/", "url must use https", "url must use http or https"],
  ["http://example.com/", "url must use https", "ok"],
  ["https://user:pass@example.com", "must not contain credentials", "must not contain credentials"],
  ["https://user@example.com", "must not contain credentials", "must not contain credentials"],
  ["https://:secret@example.com", "must not contain credentials", "must not contain credentials"],
  ["http://user:pass@127.0.0.1/", "url must use https", "must not contain credentials"],
  // localhost by name
  ["https://localhost/", "must not point at localhost", "ok"],
  ["https://LOCALHOST./", "must not point at localhost", "ok"],
  ["https://localhost:8443/x", "must not point at localhost", "ok"],
  ["https://foo.localhost/", "must not point at localhost", "ok"],
  ["https://a.b.LocalHost./", "must not point at localhost", "ok"],
  ["https://localhost../", "must not point at localhost", "ok"],
  ["https://ｌｏｃａｌｈｏｓｔ/", "must not point at localhost", "ok"],
  // IPv4 loopback in every spelling the URL parser normalises
  ["https://127.0.0.1/", "loopback address (127.0.0.1)", "ok"],
  ["https://127.0.0.1./", "loopback address (127.0.0.1)", "ok"],
  ["https://2130706433/", "loopback address (127.0.0.1)", "ok"],
  ["https://0x7f000001/", "loopback address (127.0.0.1)", "ok"],
  ["https://0X7F.1/", "loopback address (127.0.0.1)", "ok"],
  ["https://017700000001/", "loopback address (127.0.0.1)", "ok"],
  ["https://0177.0.0.1/", "loopback address (127.0.0.1)", "ok"],
  ["https://127.1/", "loopback address (127.0.0.1)", "ok"],
  ["https://127.0.0.1%2e/", "loopback address (127.0.0.1)", "ok"],
  ["https://127.255.255.254:9000/", "loopback address (127.255.255.254)", "ok"],
  // Other IPv4 ranges
  ["https://0.0.0.0/", "unspecified address (0.0.0.0)", "ok"],
  ["https://0/", "unspecified address (0.0.0.0)", "ok"],
  ["https://10.0.0.1/", "private address (10.0.0.1)", "ok"],
  ["https://172.16.5.4/", "private address (172.16.5.4)", "ok"],
  ["https://172.31.255.255/", "private address (172.31.255.255)", "ok"],
  ["https://172.32.0.1/", "ok", "ok"],
  ["https://192.168.1.1/", "private address (192.168.1.1)", "ok"],
  ["https://169.254.169.254/latest/meta-data", "link-local address (169.254.169.254)", "ok"],
  ["https://0xa9fea9fe/", "link-local address (169.254.169.254)", "ok"],
  ["https://100.64.0.1/", "carrier-grade NAT address (100.64.0.1)", "ok"],
  ["https://100.128.0.1/", "ok", "ok"],
  ["https://198.18.0.1/", "reserved address (198.18.0.1)", "ok"],
  ["https://192.0.0.8/", "reserved address (192.0.0.8)", "ok"],
  ["https://192.0.2.1/", "reserved address (192.0.2.1)", "ok"],
  ["https://198.51.100.7/", "reserved address (198.51.100.7)", "ok"],
  ["https://203.0.113.9/", "reserved address (203.0.113.9)", "ok"],
  ["https://240.0.0.1/", "reserved address (240.0.0.1)", "ok"],
  ["https://224.0.0.1/", "multicast address (224.0.0.1)", "ok"],
  ["https://255.255.255.255/", "broadcast address (255.255.255.255)", "ok"],
  // IPv6 literals
  ["https://[::1]/", "loopback address (::1)", "ok"],
  ["https://[0:0:0:0:0:0:0:1]:8443/", "loopback address (::1)", "ok"],
  ["https://[::]/", "unspecified address (::)", "ok"],
  ["https://[::ffff:127.0.0.1]/", "IPv4-mapped loopback address (::ffff:7f00:1 = 127.0.0.1)", "ok"],
  ["https://[::ffff:7f00:1]/", "IPv4-mapped loopback address (::ffff:7f00:1 = 127.0.0.1)", "ok"],
  ["HTTPS://[0:0:0:0:0:FFFF:7F00:0001]/", "IPv4-mapped loopback address (::ffff:7f00:1 = 127.0.0.1)", "ok"],
  ["https://[::ffff:169.254.169.254]/", "IPv4-mapped link-local address (::ffff:a9fe:a9fe = 169.254.169.254)", "ok"],
  ["https://[::ffff:10.0.0.1]/", "IPv4-mapped private address (::ffff:a00:1 = 10.0.0.1)", "ok"],
  ["https://[::127.0.0.1]/", "IPv4-compatible address (::7f00:1)", "ok"],
  ["https://[::8.8.8.8]/", "IPv4-compatible address (::808:808)", "ok"],
  ["https://[fd00:ec2::254]/", "unique local address (fd00:ec2::254)", "ok"],
  ["https://[fc00::1]/", "unique local address (fc00::1)", "ok"],
  ["https://[fe80::1]/", "link-local address (fe80::1)", "ok"],
  ["https://[fec0::1]/", "site-local address (fec0::1)", "ok"],
  ["https://[ff02::1]/", "multicast address (ff02::1)", "ok"],
  ["https://[64:ff9b::a00:1]/", "NAT64 address (64:ff9b::a00:1)", "ok"],
  ["https://[64:ff9b:1::7f00:1]/", "NAT64 address (64:ff9b:1::7f00:1)", "ok"],
  ["https://[2002:7f00:1::]/", "6to4 address (2002:7f00:1::)", "ok"],
  ["https://[2001::1]/", "Teredo address (2001::1)", "ok"],
  ["https://[2001:db8::1]/", "reserved address (2001:db8::1)", "ok"],
  ["https://[2001:20::1]/", "ORCHID address (2001:20::1)", "ok"],
  ["https://[100::1]/", "discard-only address (100::1)", "ok"],
  ["https://[::ffff:0:7f00:1]/", "IPv4-translated address (::ffff:0:7f00:1)", "ok"],
  ["https://[4000::1]/", "non-global address (4000::1)", "ok"],
];

describe("checkEndpointUrl", () => {
  describe.each([
    ["strict (production)", STRICT, 1],
    ["allowPrivate (development)", DEV, 2],
  ] as const)("%s", (_name, policy, column) => {
    it.each(CORPUS.map((row) => [row[0], row[column]] as const))("%s → %s", (url, expected) => {
      const result = checkEndpointUrl(url, policy);
      if (expected === "ok") {
        expect(result).toEqual({ ok: true, url: expect.any(URL) });
      } else {
        expect(result.ok).toBe(false);
        expect(result.ok ? "" : result.reason).toContain(expected);
      }
    });
  });

  it("returns the normalised URL", () => {
    const result = checkEndpointUrl("HTTPS://Hooks.Example.COM:443/a/../b?x=1", STRICT);
    expect(result.ok && result.url.href).toBe("https://hooks.example.com/b?x=1");
  });

  it("words a refused address as one short sentence", () => {
    expect(checkEndpointUrl("https://127.1/", STRICT)).toEqual({
      ok: false,
      reason: "url resolves to a loopback address (127.0.0.1)",
    });
  });

  it("refuses a non-string without throwing", () => {
    expect(checkEndpointUrl(undefined as unknown as string, STRICT)).toEqual({ ok: false, reason: "url is required" });
  });

  it("calls a blank URL missing, not malformed", () => {
    expect(checkEndpointUrl(" \t ", STRICT)).toEqual({ ok: false, reason: "url is required" });
  });

  it.each([
    ["https://user@example.com", "url must not contain credentials"],
    ["ftp://example.com/", "url must use https"],
    ["/relative", "url must be an absolute URL"],
    ["https://localhost/", "url must not point at localhost"],
  ])("words the refusal of %s exactly", (url, reason) => {
    expect(checkEndpointUrl(url, STRICT)).toEqual({ ok: false, reason });
  });
});

describe("forbiddenAddressReason", () => {
  it.each([
    ["127.0.0.1", "a loopback address (127.0.0.1)"],
    ["0.1.2.3", "an unspecified address (0.1.2.3)"],
    ["10.255.255.255", "a private address (10.255.255.255)"],
    ["172.16.0.0", "a private address (172.16.0.0)"],
    ["192.168.0.1", "a private address (192.168.0.1)"],
    ["169.254.169.254", "a link-local address (169.254.169.254)"],
    ["100.127.255.255", "a carrier-grade NAT address (100.127.255.255)"],
    ["198.19.255.255", "a reserved address (198.19.255.255)"],
    ["192.0.0.170", "a reserved address (192.0.0.170)"],
    ["239.255.255.250", "a multicast address (239.255.255.250)"],
    ["255.255.255.255", "a broadcast address (255.255.255.255)"],
    ["192.88.99.1", "a reserved address (192.88.99.1)"],
    ["192.175.48.1", "a special-purpose address (192.175.48.1)"],
    ["::", "an unspecified address (::)"],
    ["::1", "a loopback address (::1)"],
    ["[::1]", "a loopback address (::1)"],
    ["fd00:ec2::254", "a unique local address (fd00:ec2::254)"],
    ["fe80::1%eth0", "a link-local address (fe80::1%eth0)"],
    ["::ffff:192.168.0.1", "an IPv4-mapped private address (::ffff:c0a8:1 = 192.168.0.1)"],
    ["::7f00:1", "an IPv4-compatible address (::7f00:1)"],
    ["64:ff9b::808:808", "a NAT64 address (64:ff9b::808:808)"],
    ["2002::1", "a 6to4 address (2002::1)"],
    ["2001:0:4136:e378::1", "a Teredo address (2001:0:4136:e378::1)"],
    ["2001:db8:85a3::8a2e:370:7334", "a reserved address (2001:db8:85a3::8a2e:370:7334)"],
    ["2001:10::1", "an ORCHID address (2001:10::1)"],
    ["100::", "a discard-only address (100::)"],
    ["fec0::", "a site-local address (fec0::)"],
    ["ff00::", "a multicast address (ff00::)"],
    ["3fff::1", "a reserved address (3fff::1)"],
    ["2001:2::1", "a benchmarking address (2001:2::1)"],
    ["2001:3::1", "a special-purpose address (2001:3::1)"],
    ["5f00::1", "a special-purpose address (5f00::1)"],
    ["::ffff:0.0.0.0", "an IPv4-mapped unspecified address (::ffff:0:0 = 0.0.0.0)"],
    ["::ffff:100.64.0.1", "an IPv4-mapped carrier-grade NAT address (::ffff:6440:1 = 100.64.0.1)"],
    ["::ffff:192.175.48.1", "an IPv4-mapped special-purpose address (::ffff:c0af:3001 = 192.175.48.1)"],
    // Only a pair of brackets is taken off: one alone leaves an invalid address.
    ["[8.8.8.80", "an invalid address ([8.8.8.80)"],
    ["8.8.8.80]", "an invalid address (8.8.8.80])"],
    ["1::1]", "an invalid address (1::1])"],
    ["[2606:4700:4700::11111", "an invalid address ([2606:4700:4700::11111)"],
    ["not-an-ip", "an invalid address (not-an-ip)"],
    ["", "an invalid address ()"],
  ])("%s → %s", (ip, reason) => {
    expect(forbiddenAddressReason(ip)).toBe(reason);
  });

  it.each(["8.8.8.8", "1.1.1.1", "93.184.216.34", "172.32.0.1", "::ffff:8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001::200e"])(
    "allows public unicast %s",
    (ip) => {
      expect(forbiddenAddressReason(ip)).toBeUndefined();
    },
  );
});

describe("isIpLiteral: net.isIP's answer, without node:net in the core", () => {
  it.each([
    ...["127.0.0.1", "0.0.0.0", "255.255.255.255", "8.8.8.8", "1.2.3.4"],
    ...["01.2.3.4", "1.2.3", "1.2.3.4.5", "256.1.1.1", "0x7f.0.0.1", "2130706433", "127.1", " 1.2.3.4", "1.2.3.4 "],
    ...["::", "::1", "fe80::1%eth0", "::ffff:127.0.0.1", "2001:db8::1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", ":::", "[::1]", "fe80::1%"],
    ...["example.com", "localhost", "", "xn--nxasmq6b", "1.2.3.4.example", "a:b"],
  ])("%j", (host) => {
    expect(isIpLiteral(host)).toBe(isIP(host) !== 0);
  });
});

describe("ForbiddenAddressError", () => {
  it("names the literal dialled, or the name and what it resolved to", () => {
    const literal = new ForbiddenAddressError("127.0.0.1", "127.0.0.1", "a loopback address (127.0.0.1)");
    expect([literal.message, literal.name, literal.code, literal.hostname, literal.address]).toEqual([
      "refusing to connect to 127.0.0.1: a loopback address (127.0.0.1)",
      "ForbiddenAddressError",
      FORBIDDEN_ADDRESS,
      "127.0.0.1",
      "127.0.0.1",
    ]);
    expect(literal).toBeInstanceOf(Error);
    const named = new ForbiddenAddressError("rebind.test", "10.0.0.7", "a private address (10.0.0.7)");
    expect(named.message).toBe("refusing to connect to rebind.test: it resolves to a private address (10.0.0.7)");
  });
});

describe("assertDialable", () => {
  it.each(["https://127.0.0.1/", "https://[::1]/", "https://[::ffff:7f00:1]/", "https://169.254.169.254/"])("throws ERR_FORBIDDEN_ADDRESS for %s", (raw) => {
    expect(() => assertDialable(new URL(raw), STRICT)).toThrow(expect.objectContaining({ code: FORBIDDEN_ADDRESS }));
  });

  it("names the address in the message", () => {
    expect(() => assertDialable(new URL("https://[fd00:ec2::254]/"), STRICT)).toThrow(
      "refusing to connect to fd00:ec2::254: a unique local address (fd00:ec2::254)",
    );
  });

  it.each(["https://example.com/", "https://localhost/", "https://8.8.8.8/"])("does nothing for %s", (raw) => {
    expect(() => assertDialable(new URL(raw), STRICT)).not.toThrow();
  });

  it("allows private literals when allowPrivate", () => {
    expect(() => assertDialable(new URL("http://127.0.0.1:3000/"), DEV)).not.toThrow();
    expect(() => assertDialable(new URL("http://[::1]:3000/"), DEV)).not.toThrow();
  });

  it("throws an error naming the bare IPv6 literal as both host and address", () => {
    let thrown: unknown;
    try {
      assertDialable(new URL("https://[::1]:8443/x"), STRICT);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ForbiddenAddressError);
    expect(thrown).toMatchObject({ hostname: "::1", address: "::1", message: "refusing to connect to ::1: a loopback address (::1)" });
  });
});

describe("guardedLookup", () => {
  /** A resolver answering from a fixed table, recording the options it was asked with. */
  function fakeResolver(table: Record<string, string[]>) {
    const calls: unknown[] = [];
    const resolve: Resolver = (hostname, options, callback) => {
      calls.push(options);
      const addresses = table[hostname];
      if (!addresses) {
        const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
        err.code = "ENOTFOUND";
        setImmediate(() => callback(err, []));
        return;
      }
      setImmediate(() =>
        callback(
          null,
          addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })),
        ),
      );
    };
    return { resolve, calls };
  }

  /** Calls a lookup and collects its callback's arguments. */
  function run(lookup: ReturnType<typeof guardedLookup>, hostname: string, options: object) {
    return new Promise<unknown[]>((done) => lookup(hostname, options, (...args: unknown[]) => done(args)));
  }

  const table = {
    "public.test": ["93.184.216.34", "2606:2800:220:1::1"],
    "rebind.test": ["127.0.0.1"],
    "mixed.test": ["93.184.216.34", "10.0.0.7"],
    "metadata.test": ["fd00:ec2::254"],
  };

  it("answers a single address when all is false, asking the resolver for all", async () => {
    const { resolve, calls } = fakeResolver(table);
    const [err, address, family] = await run(guardedLookup(STRICT, resolve), "public.test", { family: 0 });
    expect(err).toBeNull();
    expect([address, family]).toEqual(["93.184.216.34", 4]);
    expect(calls).toEqual([{ family: 0, all: true }]);
  });

  it("answers the list when all is true", async () => {
    const { resolve } = fakeResolver(table);
    const [err, addresses] = await run(guardedLookup(STRICT, resolve), "public.test", { all: true });
    expect(err).toBeNull();
    expect(addresses).toEqual([
      { address: "93.184.216.34", family: 4 },
      { address: "2606:2800:220:1::1", family: 6 },
    ]);
  });

  it.each([
    ["rebind.test", false, "127.0.0.1"],
    ["rebind.test", true, "127.0.0.1"],
    ["mixed.test", false, "10.0.0.7"],
    ["metadata.test", true, "fd00:ec2::254"],
  ])("refuses %s (all: %s) because of %s", async (hostname, all, address) => {
    const { resolve } = fakeResolver(table);
    const [err] = await run(guardedLookup(STRICT, resolve), hostname, { all });
    expect(err).toMatchObject({ code: FORBIDDEN_ADDRESS, hostname, address });
    expect((err as Error).message).toContain(address);
  });

  it("passes resolver errors through", async () => {
    const { resolve } = fakeResolver(table);
    const [err] = await run(guardedLookup(STRICT, resolve), "nowhere.test", {});
    expect(err).toMatchObject({ code: "ENOTFOUND" });
  });

  it("allows private answers when allowPrivate", async () => {
    const { resolve } = fakeResolver(table);
    const [err, address, family] = await run(guardedLookup(DEV, resolve), "rebind.test", {});
    expect(err).toBeNull();
    expect([address, family]).toEqual(["127.0.0.1", 4]);
  });
});
