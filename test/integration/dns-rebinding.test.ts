/**
 * DNS rebinding, end to end on a real socket: a name that resolves to a loopback address at
 * dial time must be refused before any TCP connection is opened. A loopback HTTP server counts
 * the connections it accepts; each guarded client (the undici dispatcher, the node:http agents)
 * dials it through a fake resolver, used directly (without a sender's own checks).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { request } from "undici";
import { createGuardedAgents } from "#adapters/guarded-agent.ts";
import { createGuardedDispatcher, type Resolver } from "#adapters/guarded-dispatcher.ts";
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

const undiciClient: MakeClient = (policy, resolve) => {
  const agent = createGuardedDispatcher(policy, { resolve, connectTimeout: 2_000 });
  return {
    async get(url) {
      const response = await request(url, { dispatcher: agent });
      return { statusCode: response.statusCode, text: await response.body.text() };
    },
    destroy: () => agent.destroy(),
  };
};

const nodeHttpClient: MakeClient = (policy, resolve) => {
  const agents = createGuardedAgents(policy, { resolve });
  return {
    get: (url) =>
      new Promise((resolve, reject) => {
        const req = http.get(new URL(url), { agent: agents.http }, (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => resolve({ statusCode: res.statusCode ?? 0, text }));
          res.on("error", reject);
        });
        req.on("error", reject);
      }),
    destroy: async () => {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
};

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

describe.each([
  ["the undici dispatcher", undiciClient],
  ["the node:http agent", nodeHttpClient],
])("%s against DNS rebinding", (_name, make) => {
  /** A guarded client with the rebinding resolver (default: dns.lookup when `resolve` is null), destroyed after the test. */
  function client(allowPrivate: boolean, resolve: Resolver | null = rebindingResolver): GuardedClient {
    const c = make({ allowPrivate }, resolve ?? undefined);
    clients.push(c);
    return c;
  }

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
    // undici hands the socket back to the pool a tick after the body ends; a request sent in
    // the same tick would open a second connection.
    await new Promise((resolve) => setImmediate(resolve));
    const second = await c.get(`http://rebind.test:${port}/redirect`);

    expect(second.statusCode).toBe(302);
    expect(connections).toBe(1);
  });
});
