/**
 * DNS rebinding, end to end on a real socket: a name that resolves to a loopback address at
 * dial time must be refused before any TCP connection is opened. A loopback HTTP server counts
 * the connections it accepts; the guarded node:http agents, and the raw guarded lookup, dial it
 * through a fake resolver, used directly (without the sender's own checks).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createGuardedAgents, guardedLookup, type Resolver } from "#adapters/guarded-agent.ts";
import { assertDialable, type EndpointPolicy, FORBIDDEN_ADDRESS } from "#core/endpoint-guard.ts";

/** Resolves `rebind.test` to 127.0.0.1 (the attacker's second answer); anything else is unknown. */
const rebindingResolver: Resolver = (hostname, _options, callback) => {
  if (hostname === "rebind.test") {
    setImmediate(() => callback(null, [{ address: "127.0.0.1", family: 4 }]));
    return;
  }
  const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
  err.code = "ENOTFOUND";
  setImmediate(() => callback(err, []));
};

let server: http.Server;
let port: number;
let connections = 0;

/** A guarded client as a test uses it: GET a URL, read the whole answer. */
interface GuardedClient {
  get(url: string): Promise<{ statusCode: number; text: string }>;
  destroy(): Promise<void>;
}
type MakeClient = (policy: EndpointPolicy, resolve?: Resolver) => GuardedClient;

/** GETs `url` with node:http's `options` (an agent, or a lookup of its own), reading the whole answer. */
function get(url: string, options: http.RequestOptions): Promise<{ statusCode: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(new URL(url), options, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ statusCode: res.statusCode ?? 0, text }));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

/** The deliver λ's guarded agents (lambdas/adapters/guarded-agent.ts). */
const agentClient: MakeClient = (policy, resolve) => {
  const agents = createGuardedAgents(policy, { resolve });
  return {
    get: (url) => get(url, { agent: agents.http }),
    destroy: async () => {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
};

/** The guarded lookup alone, as a one-off connection's `lookup` (no agent, no check of IP literals). */
const lookupClient: MakeClient = (policy, resolve) => ({
  get: (url) => get(url, { agent: false, lookup: guardedLookup(policy, resolve) }),
  destroy: async () => {},
});

const clients: GuardedClient[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === "/redirect") {
      res.writeHead(302, { location: `http://127.0.0.1:${port}/` }).end();
      return;
    }
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
  server.on("connection", () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

beforeEach(() => {
  connections = 0;
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.destroy()));
  server.closeAllConnections();
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test("assertDialable refuses a loopback IP literal before any dial", () => {
  const url = new URL(`http://127.0.0.1:${port}/`);

  expect(() => assertDialable(url, { allowPrivate: false })).toThrow(expect.objectContaining({ code: FORBIDDEN_ADDRESS }));
  expect(connections).toBe(0);
});

/** A guarded client with the rebinding resolver (default: dns.lookup when `resolve` is null), destroyed after the test. */
function clientOf(make: MakeClient, allowPrivate: boolean, resolve: Resolver | null = rebindingResolver): GuardedClient {
  const c = make({ allowPrivate }, resolve ?? undefined);
  clients.push(c);
  return c;
}

describe("the node:http agents against DNS rebinding", () => {
  const client = (allowPrivate: boolean, resolve?: Resolver | null) => clientOf(agentClient, allowPrivate, resolve);

  it("refuses a name that resolves to loopback before connecting", async () => {
    const attempt = client(false).get(`http://rebind.test:${port}/`);

    await expect(attempt).rejects.toMatchObject({
      code: FORBIDDEN_ADDRESS,
      address: "127.0.0.1",
      message: expect.stringContaining("127.0.0.1"),
    });
    expect(connections).toBe(0);
  });

  it("refuses localhost through the default resolver (dns.lookup)", async () => {
    await expect(client(false, null).get(`http://localhost:${port}/`)).rejects.toMatchObject({
      code: FORBIDDEN_ADDRESS,
      hostname: "localhost",
    });
    expect(connections).toBe(0);
  });

  it("refuses a loopback IP literal itself (net skips lookup for literals)", async () => {
    const attempt = client(false).get(`http://127.0.0.1:${port}/`);

    await expect(attempt).rejects.toMatchObject({ code: FORBIDDEN_ADDRESS, address: "127.0.0.1" });
    expect(connections).toBe(0);
  });

  it("refuses an IPv4-mapped loopback literal itself", async () => {
    const attempt = client(false).get(`http://[::ffff:127.0.0.1]:${port}/`);

    await expect(attempt).rejects.toMatchObject({ code: FORBIDDEN_ADDRESS, address: "::ffff:7f00:1" });
    expect(connections).toBe(0);
  });

  it("connects when private endpoints are allowed (positive control)", async () => {
    const response = await client(true).get(`http://rebind.test:${port}/`);

    expect(response).toEqual({ statusCode: 200, text: "ok" });
    expect(connections).toBe(1);
  });

  it("reuses the kept-alive connection and does not follow redirects", async () => {
    const c = client(true);
    await c.get(`http://rebind.test:${port}/`);
    const second = await c.get(`http://rebind.test:${port}/redirect`);

    expect(second.statusCode).toBe(302);
    expect(connections).toBe(1);
  });
});

describe("the guarded lookup alone, as a connection's lookup", () => {
  const client = (allowPrivate: boolean, resolve?: Resolver | null) => clientOf(lookupClient, allowPrivate, resolve);

  it("refuses a name that resolves to loopback before connecting", async () => {
    await expect(client(false).get(`http://rebind.test:${port}/`)).rejects.toMatchObject({ code: FORBIDDEN_ADDRESS, address: "127.0.0.1" });
    expect(connections).toBe(0);
  });

  it("refuses localhost through the default resolver (dns.lookup)", async () => {
    await expect(client(false, null).get(`http://localhost:${port}/`)).rejects.toMatchObject({ code: FORBIDDEN_ADDRESS, hostname: "localhost" });
    expect(connections).toBe(0);
  });

  it("connects when private endpoints are allowed (positive control)", async () => {
    expect(await client(true).get(`http://rebind.test:${port}/`)).toEqual({ statusCode: 200, text: "ok" });
    expect(connections).toBe(1);
  });

  it("is never asked about an IP literal: net dials it directly, which is why the agents and assertDialable judge literals", async () => {
    expect(await client(false).get(`http://127.0.0.1:${port}/`)).toEqual({ statusCode: 200, text: "ok" });
    expect(connections).toBe(1);
  });
});
