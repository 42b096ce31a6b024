/**
 * The deliver λ's HTTP sender (NodeHttpSender, on node:http keep-alive agents) against real endpoints
 * on 127.0.0.1 that answer, fail and misbehave in every way a customer's endpoint does, and against the
 * endpoint guard: the outcome, the attempt-log text and the connection handling of each
 * (docs/delivery-semantics.md, "What counts as a failed attempt"; docs/security.md, "At connect time").
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { generate } from "selfsigned";
import { createGuardedAgents, type Resolver } from "#adapters/guarded-agent.ts";
import { NodeHttpSender } from "#adapters/node-http-sender.ts";
import type { EndpointPolicy } from "#core/endpoint-guard.ts";
import { signatureHeader } from "#core/signing.ts";
import { USER_AGENT } from "#core/version.ts";

const PRIVATE_OK: EndpointPolicy = { allowPrivate: true };
const STRICT: EndpointPolicy = { allowPrivate: false };

/** Test names resolve here; anything else is unknown. */
const RECORDS: Record<string, { address: string; family: number }[]> = {
  "rebind.test": [{ address: "127.0.0.1", family: 4 }],
  "mixed.test": [
    { address: "93.184.216.34", family: 4 },
    { address: "169.254.169.254", family: 4 },
  ],
  "mapped.test": [{ address: "::ffff:127.0.0.1", family: 6 }],
  "hooks.test": [{ address: "127.0.0.1", family: 4 }],
  "wrong-name.test": [{ address: "127.0.0.1", family: 4 }],
};
const resolver: Resolver = (hostname, _options, callback) => {
  const records = RECORDS[hostname];
  if (records) {
    setImmediate(() => callback(null, records));
    return;
  }
  const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
  err.code = "ENOTFOUND";
  setImmediate(() => callback(err, []));
};

type Answer = (res: ServerResponse, req: IncomingMessage) => void;

/** A real endpoint on 127.0.0.1 that counts the TCP connections it accepts and those still open. */
class Endpoint {
  connections = 0;
  readonly open = new Set<Socket>();
  readonly requests: { url: string; headers: IncomingHttpHeaders; rawHeaderNames: string[]; body: string }[] = [];
  private server!: Server;

  constructor(
    private answer: Answer,
    private readonly tls?: { key: string; cert: string },
  ) {}

  async start(): Promise<this> {
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const rawHeaderNames = req.rawHeaders.filter((_, i) => i % 2 === 0).map((h) => h.toLowerCase());
        this.requests.push({ url: req.url ?? "", headers: req.headers, rawHeaderNames, body: Buffer.concat(chunks).toString("utf8") });
        this.answer(res, req);
      });
    };
    this.server = this.tls ? createHttpsServer(this.tls, onRequest) : createServer(onRequest);
    this.server.on("connection", (s: Socket) => {
      this.connections++;
      this.open.add(s);
      s.on("close", () => this.open.delete(s));
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    return this;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(path = "/hooks", host = "127.0.0.1"): string {
    return `${this.tls ? "https" : "http"}://${host}:${this.port}${path}`;
  }

  respond(answer: Answer): void {
    this.answer = answer;
  }

  /** Resolves once the client has closed every connection (a destroyed socket, not one kept for reuse). */
  async allClosed(timeoutMs = 3_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.open.size > 0) {
      if (Date.now() > deadline) throw new Error(`${this.open.size} connection(s) still open`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

const endpoints: Endpoint[] = [];
async function endpoint(answer: Answer = (res) => res.end("ok"), tls?: { key: string; cert: string }): Promise<Endpoint> {
  const e = await new Endpoint(answer, tls).start();
  endpoints.push(e);
  return e;
}
afterEach(async () => {
  await Promise.all(endpoints.splice(0).map((e) => e.stop()));
});

/** The headers the deliver λ sends (delivery.ts). */
function deliveryHeaders(body: string): Record<string, string> {
  const id = "evt_senders_1";
  const timestamp = Math.floor(Date.now() / 1000);
  return {
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": signatureHeader(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], id, timestamp, body),
  };
}

const BODY = JSON.stringify({ id: "evt_senders_1", type: "record.created", data: { recordId: "rec_é_1" } });

describe("NodeHttpSender", () => {
  const senders: NodeHttpSender[] = [];
  /** A sender closed after the test; `resolve: null` for the default resolver (dns.lookup). */
  const sender = (policy: EndpointPolicy = PRIVATE_OK, resolve: Resolver | null = resolver): NodeHttpSender => {
    const s = new NodeHttpSender(policy, createGuardedAgents(policy, { resolve: resolve ?? undefined }));
    senders.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(senders.splice(0).map((s) => s.close()));
  });

  describe("answers", () => {
    test("a 2xx: the status, the body as the excerpt, no error; the endpoint gets the body and the headers, with a length", async () => {
      const e = await endpoint((res) => res.writeHead(204).end());
      const headers = deliveryHeaders(BODY);
      const result = await sender().post(e.url(), headers, BODY, 5_000);

      expect(result).toEqual({ statusCode: 204, durationMs: expect.any(Number), responseExcerpt: undefined, retryAfter: undefined, error: undefined });
      expect(e.requests).toHaveLength(1);
      const [received] = e.requests;
      expect(received.url).toBe("/hooks");
      expect(received.body).toBe(BODY);
      expect(received.headers).toMatchObject({ ...headers, "content-length": String(Buffer.byteLength(BODY)), host: `127.0.0.1:${e.port}` });
      expect(received.headers["transfer-encoding"]).toBeUndefined();
    });

    test("a 500 with a body: http_error, the body as the excerpt", async () => {
      const e = await endpoint((res) => res.writeHead(500).end("down"));
      const result = await sender().post(e.url(), {}, "{}", 5_000);

      expect(result).toMatchObject({ statusCode: 500, error: "http_error: HTTP 500", responseExcerpt: "down" });
    });

    test("a 404 with a 10,000-byte body: the excerpt is its first 4,096 bytes", async () => {
      const e = await endpoint((res) => res.writeHead(404).end("x".repeat(10_000)));
      const result = await sender().post(e.url(), {}, "{}", 5_000);

      expect(result).toMatchObject({ statusCode: 404, error: "http_error: HTTP 404", responseExcerpt: "x".repeat(4_096) });
    });

    test("a 429 with Retry-After: the header is returned", async () => {
      const e = await endpoint((res) => res.writeHead(429, { "retry-after": "30" }).end());
      const result = await sender().post(e.url(), {}, "{}", 5_000);

      expect(result).toMatchObject({ statusCode: 429, error: "http_error: HTTP 429", retryAfter: "30" });
    });

    test("a redirect is not followed: the 3xx is the outcome, its target never hears from us", async () => {
      const target = await endpoint();
      const e = await endpoint((res) => res.writeHead(302, { location: target.url("/elsewhere") }).end());
      const result = await sender().post(e.url(), {}, "{}", 5_000);

      expect(result).toMatchObject({ statusCode: 302, error: "redirect: HTTP 302 (redirects are not followed)" });
      expect(e.requests).toHaveLength(1);
      expect(target.connections).toBe(0);
    });

    test("a binary body is named as such; text is cut after decoding, on a character boundary", async () => {
      const bodies: Record<string, Buffer> = {
        "/binary": Buffer.from(Array.from({ length: 4_096 }, (_, i) => (i * 131 + 7) % 256)),
        "/text": Buffer.from("é".repeat(5_000)),
      };
      const e = await endpoint((res, req) => res.writeHead(500).end(bodies[req.url ?? ""]));
      const s = sender();

      expect(await s.post(e.url("/binary"), {}, "{}", 5_000)).toMatchObject({ statusCode: 500, responseExcerpt: "<binary, 4096 bytes>" });
      expect((await s.post(e.url("/text"), {}, "{}", 5_000)).responseExcerpt).toBe("é".repeat(2_048));
    });
  });

  describe("failures", () => {
    test("no answer at all: a timeout with the attempt's deadline, and the connection is closed", async () => {
      const e = await endpoint(() => {});
      const result = await sender().post(e.url(), {}, "{}", 300);

      expect(result).toEqual({ error: "timeout: no complete response within 300 ms", durationMs: expect.any(Number) });
      expect(result.durationMs).toBeGreaterThanOrEqual(290);
      await e.allClosed();
    });

    test("headers in time but a body that never ends: the deadline covers the body too", async () => {
      const e = await endpoint((res) => {
        res.writeHead(200, { "content-type": "text/plain" });
        const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(".")), 50);
        res.on("close", () => clearInterval(timer));
      });
      const result = await sender().post(e.url(), {}, "{}", 400);

      expect(result).toEqual({ error: "timeout: no complete response within 400 ms", durationMs: expect.any(Number) });
      await e.allClosed();
    });

    test("a reset before any answer: connection_reset", async () => {
      const e = await endpoint((res) => res.socket?.resetAndDestroy());
      const result = await sender().post(e.url(), {}, "{}", 5_000);

      expect(result).toEqual({ error: "connection_reset: the connection was closed before a complete response", durationMs: expect.any(Number) });
    });

    test("a reset in the middle of the body: connection_reset, not a 200", async () => {
      const e = await endpoint((res) => {
        res.writeHead(200, { "content-length": "1000" });
        res.write("partial");
        setTimeout(() => res.socket?.resetAndDestroy(), 20);
      });
      const result = await sender().post(e.url(), {}, "{}", 5_000);

      expect(result).toEqual({ error: "connection_reset: the connection was closed before a complete response", durationMs: expect.any(Number) });
    });

    test("a refused connection: connection_refused", async () => {
      const e = await endpoint();
      const url = e.url();
      await e.stop();
      endpoints.splice(endpoints.indexOf(e), 1);
      const result = await sender().post(url, {}, "{}", 5_000);

      expect(result).toEqual({ error: "connection_refused: the endpoint refused the connection", durationMs: expect.any(Number) });
    });

    test("a name that does not resolve: dns_error", async () => {
      const result = await sender().post("https://nowhere.invalid/hooks", {}, "{}", 5_000);

      expect(result).toEqual({ error: "dns_error: getaddrinfo ENOTFOUND nowhere.invalid", durationMs: expect.any(Number) });
    });

    test("not a URL: invalid_url", async () => {
      const result = await sender().post("not a url", {}, "{}", 5_000);

      expect(result.error).toMatch(/^invalid_url: /);
    });

    test("a certificate nobody signed: tls_error, and no request is ever made", async () => {
      const pems = await generate([{ name: "commonName", value: "127.0.0.1" }], { keyType: "ec", algorithm: "sha256" });
      const e = await endpoint(undefined, { key: pems.private, cert: pems.cert });
      const result = await sender().post(e.url(), {}, "{}", 5_000);

      expect(result).toEqual({ error: "tls_error: DEPTH_ZERO_SELF_SIGNED_CERT", durationMs: expect.any(Number) });
      expect(e.requests).toHaveLength(0);
    });
  });

  describe("connections", () => {
    test("sequential attempts reuse one kept-alive connection", async () => {
      const e = await endpoint();
      const s = sender();
      for (let i = 0; i < 20; i++) {
        expect((await s.post(e.url(), {}, `{"n":${i}}`, 5_000)).statusCode).toBe(200);
      }

      expect(e.requests).toHaveLength(20);
      expect(e.connections).toBe(1);
    });

    test("concurrent attempts open one connection each, then reuse them", async () => {
      const e = await endpoint((res) => setTimeout(() => res.end("ok"), 20));
      const s = sender();
      const round = () => Promise.all(Array.from({ length: 5 }, () => s.post(e.url(), {}, "{}", 5_000)));
      await round();
      await round();

      expect(e.requests).toHaveLength(10);
      expect(e.connections).toBe(5);
    });

    test("a body up to the read limit is read to its end and the connection reused", async () => {
      const e = await endpoint((res) => res.end("y".repeat(200_000)));
      const s = sender();
      const first = await s.post(e.url(), {}, "{}", 5_000);
      const second = await s.post(e.url(), {}, "{}", 5_000);

      expect(first).toMatchObject({ statusCode: 200, responseExcerpt: "y".repeat(4_096) });
      expect(second.statusCode).toBe(200);
      expect(e.connections).toBe(1);
    });

    test("a body past the read limit (1 MiB): the outcome stands, the connection is closed, never reused half-read", async () => {
      const e = await endpoint((res, req) => {
        if (req.url === "/huge") res.writeHead(200, { "content-length": String(3 * 1_048_576) }).end(Buffer.alloc(3 * 1_048_576, "z"));
        else res.end("ok");
      });
      const s = sender();
      const huge = await s.post(e.url("/huge"), {}, "{}", 5_000);

      expect(huge).toMatchObject({ statusCode: 200, error: undefined, responseExcerpt: "z".repeat(4_096) });
      await e.allClosed();
      expect((await s.post(e.url(), {}, "{}", 5_000)).statusCode).toBe(200);
      expect(e.connections).toBe(2);
    });

    test("a failed attempt's connection is not reused: the next attempt opens a new one", async () => {
      const e = await endpoint(() => {});
      const s = sender();
      expect((await s.post(e.url(), {}, "{}", 200)).error).toMatch(/^timeout:/);
      e.respond((res) => res.end("ok"));
      expect((await s.post(e.url(), {}, "{}", 5_000)).statusCode).toBe(200);

      expect(e.connections).toBe(2);
    });
  });

  describe("the endpoint guard (production policy)", () => {
    test.each([
      ["a loopback literal", (port: number) => `http://127.0.0.1:${port}/`, "a loopback address (127.0.0.1)"],
      ["a loopback literal spelt in hex", (port: number) => `http://0x7f.1:${port}/`, "a loopback address (127.0.0.1)"],
      ["the IPv6 loopback", (port: number) => `http://[::1]:${port}/`, "a loopback address (::1)"],
      ["an IPv4-mapped loopback", (port: number) => `http://[::ffff:127.0.0.1]:${port}/`, "an IPv4-mapped loopback address"],
      ["the instance metadata address", () => "http://169.254.169.254/latest/meta-data/", "a link-local address (169.254.169.254)"],
      ["the metadata address, IPv4-mapped", () => "https://[::ffff:169.254.169.254]/", "an IPv4-mapped link-local address"],
      ["a private address", () => "https://10.0.0.1/hooks", "a private address (10.0.0.1)"],
    ])("refuses %s before any connection", async (_what, url, reason) => {
      const e = await endpoint();
      const result = await sender(STRICT).post(url(e.port), {}, "{}", 2_000);

      expect(result.statusCode).toBeUndefined();
      expect(result.error).toMatch(/^forbidden_address: refusing to connect to /);
      expect(result.error).toContain(reason);
      expect(e.connections).toBe(0);
    });

    test.each([
      ["resolves to loopback (DNS rebinding)", "rebind.test", "it resolves to a loopback address (127.0.0.1)"],
      ["has one public and one link-local record", "mixed.test", "it resolves to a link-local address (169.254.169.254)"],
      ["resolves to an IPv4-mapped loopback", "mapped.test", "it resolves to an IPv4-mapped loopback address (::ffff:7f00:1 = 127.0.0.1)"],
    ])("refuses a name that %s, before any connection", async (_what, host, reason) => {
      const e = await endpoint();
      const result = await sender(STRICT).post(e.url("/hooks", host), {}, "{}", 2_000);

      expect(result.error).toBe(`forbidden_address: refusing to connect to ${host}: ${reason}`);
      expect(e.connections).toBe(0);
    });

    test("refuses localhost through the default resolver (dns.lookup)", async () => {
      const e = await endpoint();
      const result = await sender(STRICT, null).post(e.url("/hooks", "localhost"), {}, "{}", 2_000);

      expect(result.error).toMatch(/^forbidden_address: refusing to connect to localhost: it resolves to a loopback address/);
      expect(e.connections).toBe(0);
    });

    test("positive control: with private endpoints allowed, the same name connects through the lookup", async () => {
      const e = await endpoint();
      const result = await sender(PRIVATE_OK).post(e.url("/hooks", "rebind.test"), {}, "{}", 2_000);

      expect(result).toMatchObject({ statusCode: 200, responseExcerpt: "ok" });
      expect(e.requests[0].headers.host).toBe(`rebind.test:${e.port}`);
      expect(e.connections).toBe(1);
    });
  });
});

test("the endpoint receives exactly the delivery's headers, plus Host, Connection and Content-Length, and the body", async () => {
  const e = await endpoint();
  const headers = deliveryHeaders(BODY);
  const sender = new NodeHttpSender(PRIVATE_OK);
  try {
    expect((await sender.post(e.url(), headers, BODY, 5_000)).statusCode).toBe(200);
  } finally {
    await sender.close();
  }
  const [received] = e.requests;
  expect(received.body).toBe(BODY);
  expect(received.headers).toEqual({
    ...headers,
    host: `127.0.0.1:${e.port}`,
    connection: "keep-alive",
    "content-length": String(Buffer.byteLength(BODY)),
  });
  // Each name once: nothing repeated, nothing else (no Transfer-Encoding, no Accept, no Expect).
  expect([...received.rawHeaderNames].sort()).toEqual([
    "connection",
    "content-length",
    "content-type",
    "host",
    "user-agent",
    "webhook-id",
    "webhook-signature",
    "webhook-timestamp",
  ]);
});

test("back to back, in the same tick, attempts reuse the kept-alive connections: 20 in a row, then twice 5 at once, over 5 connections", async () => {
  const e = await endpoint();
  const sender = new NodeHttpSender(PRIVATE_OK);
  try {
    for (let i = 0; i < 20; i++) expect((await sender.post(e.url(), {}, "{}", 5_000)).statusCode).toBe(200);
    await Promise.all(Array.from({ length: 5 }, () => sender.post(e.url(), {}, "{}", 5_000)));
    await Promise.all(Array.from({ length: 5 }, () => sender.post(e.url(), {}, "{}", 5_000)));
  } finally {
    await sender.close();
  }
  expect(e.requests).toHaveLength(30);
  expect(e.connections).toBe(5);
});

describe("NodeHttpSender's idle-socket timeout", () => {
  test("closes a kept-alive socket idle longer than the free-socket timeout, and the next attempt dials again", async () => {
    const e = await endpoint();
    const sender = new NodeHttpSender(PRIVATE_OK, createGuardedAgents(PRIVATE_OK, { freeSocketTimeoutMs: 200 }));
    try {
      expect((await sender.post(e.url(), {}, "{}", 5_000)).statusCode).toBe(200);
      expect(e.open.size).toBe(1);
      await e.allClosed();
      expect((await sender.post(e.url(), {}, "{}", 5_000)).statusCode).toBe(200);
    } finally {
      await sender.close();
    }
    expect(e.connections).toBe(2);
  });

  test("does not cut a busy socket: an answer slower than the idle timeout, within the deadline, succeeds", async () => {
    const e = await endpoint((res) => setTimeout(() => res.end("late"), 500));
    const sender = new NodeHttpSender(PRIVATE_OK, createGuardedAgents(PRIVATE_OK, { freeSocketTimeoutMs: 100 }));
    try {
      expect(await sender.post(e.url(), {}, "{}", 3_000)).toMatchObject({ statusCode: 200, responseExcerpt: "late", error: undefined });
    } finally {
      await sender.close();
    }
  });
});

describe("NodeHttpSender over TLS (verification on, the guarded lookup on the https agent)", () => {
  let pems: { private: string; cert: string };
  beforeAll(async () => {
    pems = await generate([{ name: "commonName", value: "hooks.test" }], { keyType: "ec", algorithm: "sha256" });
  });

  test("a trusted certificate for the name: delivered, the kept-alive TLS connection reused", async () => {
    const e = await endpoint(undefined, { key: pems.private, cert: pems.cert });
    const sender = new NodeHttpSender(PRIVATE_OK, createGuardedAgents(PRIVATE_OK, { resolve: resolver, ca: pems.cert }));
    try {
      for (let i = 0; i < 3; i++) expect(await sender.post(e.url("/hooks", "hooks.test"), {}, "{}", 5_000)).toMatchObject({ statusCode: 200 });
    } finally {
      await sender.close();
    }
    expect(e.connections).toBe(1);
  });

  test("the same certificate reached under another name: tls_error (the host name is verified), no request", async () => {
    const e = await endpoint(undefined, { key: pems.private, cert: pems.cert });
    const sender = new NodeHttpSender(PRIVATE_OK, createGuardedAgents(PRIVATE_OK, { resolve: resolver, ca: pems.cert }));
    try {
      const result = await sender.post(e.url("/hooks", "wrong-name.test"), {}, "{}", 5_000);
      expect(result.error).toBe("tls_error: ERR_TLS_CERT_ALTNAME_INVALID");
    } finally {
      await sender.close();
    }
    expect(e.requests).toHaveLength(0);
  });

  test("the production policy still guards names on the https agent", async () => {
    const e = await endpoint(undefined, { key: pems.private, cert: pems.cert });
    const sender = new NodeHttpSender(STRICT, createGuardedAgents(STRICT, { resolve: resolver, ca: pems.cert }));
    try {
      const result = await sender.post(e.url("/hooks", "hooks.test"), {}, "{}", 5_000);
      expect(result.error).toBe("forbidden_address: refusing to connect to hooks.test: it resolves to a loopback address (127.0.0.1)");
    } finally {
      await sender.close();
    }
    expect(e.connections).toBe(0);
  });
});
