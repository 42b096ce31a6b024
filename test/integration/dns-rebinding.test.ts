/**
 * DNS rebinding, end to end on a real socket: a name that resolves to a loopback address at
 * dial time must be refused before any TCP connection is opened. A loopback HTTP server counts
 * the connections it accepts; the guarded undici dispatcher dials it through a fake resolver.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { request, type Agent } from "undici";
import { createGuardedDispatcher, type Resolver } from "#adapters/guarded-dispatcher.ts";
import { assertDialable, FORBIDDEN_ADDRESS } from "#core/endpoint-guard.ts";

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
const dispatchers: Agent[] = [];

/** A guarded dispatcher that is closed after the test. */
function dispatcher(allowPrivate: boolean): Agent {
  const agent = createGuardedDispatcher({ allowPrivate }, { resolve: rebindingResolver, connectTimeout: 2_000 });
  dispatchers.push(agent);
  return agent;
}

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
  await Promise.all(dispatchers.splice(0).map((agent) => agent.destroy()));
  server.closeAllConnections();
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe("guarded dispatcher against DNS rebinding", () => {
  it("refuses a name that resolves to loopback before connecting", async () => {
    const attempt = request(`http://rebind.test:${port}/`, { dispatcher: dispatcher(false) });

    await expect(attempt).rejects.toMatchObject({
      code: FORBIDDEN_ADDRESS,
      address: "127.0.0.1",
      message: expect.stringContaining("127.0.0.1"),
    });
    expect(connections).toBe(0);
  });

  it("refuses localhost through the default resolver (dns.lookup)", async () => {
    const agent = createGuardedDispatcher({ allowPrivate: false }, { connectTimeout: 2_000 });
    dispatchers.push(agent);

    await expect(request(`http://localhost:${port}/`, { dispatcher: agent })).rejects.toMatchObject({
      code: FORBIDDEN_ADDRESS,
      hostname: "localhost",
    });
    expect(connections).toBe(0);
  });

  it("refuses a loopback IP literal with assertDialable, before any dial", () => {
    const url = new URL(`http://127.0.0.1:${port}/`);

    expect(() => assertDialable(url, { allowPrivate: false })).toThrow(expect.objectContaining({ code: FORBIDDEN_ADDRESS }));
    expect(connections).toBe(0);
  });

  it("refuses a loopback IP literal in the dispatcher too (net skips lookup for literals)", async () => {
    const attempt = request(`http://127.0.0.1:${port}/`, { dispatcher: dispatcher(false) });

    await expect(attempt).rejects.toMatchObject({ code: FORBIDDEN_ADDRESS, address: "127.0.0.1" });
    expect(connections).toBe(0);
  });

  it("connects when private endpoints are allowed (positive control)", async () => {
    const response = await request(`http://rebind.test:${port}/`, { dispatcher: dispatcher(true) });

    expect(response.statusCode).toBe(200);
    expect(await response.body.text()).toBe("ok");
    expect(connections).toBe(1);
  });

  it("reuses the kept-alive connection and does not follow redirects", async () => {
    const agent = dispatcher(true);
    const first = await request(`http://rebind.test:${port}/`, { dispatcher: agent });
    await first.body.text();
    // undici hands the socket back to the pool a tick after the body ends; a request sent in
    // the same tick would open a second connection.
    await new Promise((resolve) => setImmediate(resolve));
    const second = await request(`http://rebind.test:${port}/redirect`, { dispatcher: agent });
    await second.body.text();

    expect(second.statusCode).toBe(302);
    expect(connections).toBe(1);
  });
});
