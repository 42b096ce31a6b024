import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** A request as a receiver saw it. */
export interface Received {
  /** The request target: path and query. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
}

/** How the receiver answers one request; a function of the request's index (0-based). */
export type Behaviour =
  | { kind: "status"; status: number; headers?: Record<string, string>; body?: string }
  | { kind: "delay"; ms: number; status?: number }
  /** Answers once `until` settles: a request held open until something else has happened. */
  | { kind: "await"; until: Promise<unknown>; status?: number }
  | { kind: "reset" }
  | { kind: "hang" }
  | { kind: "slow-body"; chunkEveryMs: number; status?: number };

let ownAddresses = 0;

/**
 * A loopback address of this process's own, 127.<pid>.<n> (Linux routes all of 127.0.0.0/8 to the
 * loopback interface), a different one on each call (254 of them).
 */
function ownLoopbackAddress(): string {
  const [a, b] = [(process.pid >> 8) & 255, process.pid & 255];
  return `127.${a === 0 && b === 0 ? 1 : a}.${b}.${(ownAddresses++ % 254) + 1}`;
}

/**
 * A real HTTP endpoint on 127.0.0.1 that records what it receives and misbehaves on demand:
 * error statuses, delays, connection resets, requests it never answers, bodies that never end.
 */
export class TestReceiver {
  readonly requests: Received[] = [];
  connections = 0;
  private server?: Server;
  private host = "127.0.0.1";
  private port = 0;
  private sockets = new Set<Socket>();
  private waiters: { count: number; resolve: () => void }[] = [];

  constructor(private behaviour: (index: number, req: Received) => Behaviour = () => ({ kind: "status", status: 200 })) {}

  /** Its URL; the same once stopped, when connections to it are refused. */
  get url(): string {
    return `http://${this.host}:${this.port}/hooks`;
  }

  respondWith(behaviour: (index: number, req: Received) => Behaviour): void {
    this.behaviour = behaviour;
  }

  /**
   * Starts on a port the OS picks, on an address of this process's own, for an endpoint that goes
   * down (`stop()`: connections refused) and comes back at the same URL (`restart()`). A port released
   * on 127.0.0.1 may meanwhile be handed to any other listener on this shared machine (another test
   * file, another run), so it could not be taken back; on an address only this process uses, no one
   * else's listener takes it. Where only 127.0.0.1 answers (macOS), that is used.
   */
  async startRestartable(): Promise<this> {
    try {
      return await this.start(0, ownLoopbackAddress());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EADDRNOTAVAIL") throw err;
      return this.start(0, "127.0.0.1");
    }
  }

  /** Listens again at the URL it had before `stop()`. */
  restart(): Promise<this> {
    if (this.port === 0) throw new Error("restart() of a receiver that never started");
    return this.start(this.port, this.host);
  }

  /** Listens on `port` (0: one the OS picks) on `host`. */
  async start(port = 0, host = "127.0.0.1"): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const received: Received = { url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), at: Date.now() };
        const index = this.requests.length;
        this.requests.push(received);
        this.waiters = this.waiters.filter((w) => (this.requests.length >= w.count ? (w.resolve(), false) : true));
        this.answer(this.behaviour(index, received), res);
      });
    });
    this.server.on("connection", (s) => {
      this.connections++;
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) =>
        reject(Object.assign(new Error(`the test receiver cannot listen on ${host}:${port}: ${err.code ?? err.message}`), { code: err.code })),
      );
      server.listen(port, host, () => resolve());
    });
    this.host = host;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  private answer(b: Behaviour, res: ServerResponse): void {
    switch (b.kind) {
      case "status":
        res.writeHead(b.status, b.headers);
        res.end(b.body ?? "");
        return;
      case "delay":
        setTimeout(() => {
          if (!res.destroyed) res.writeHead(b.status ?? 200).end("ok");
        }, b.ms);
        return;
      case "await":
        void b.until.finally(() => {
          if (!res.destroyed) res.writeHead(b.status ?? 200).end("ok");
        });
        return;
      case "reset":
        res.socket?.resetAndDestroy();
        return;
      case "hang":
        return;
      case "slow-body": {
        res.writeHead(b.status ?? 200, { "content-type": "text/plain" });
        const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(".")), b.chunkEveryMs);
        res.on("close", () => clearInterval(timer));
        return;
      }
    }
  }

  /** Resolves once `count` requests in total have arrived. */
  waitFor(count: number, timeoutMs = 20_000): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`receiver got ${this.requests.length} of ${count} requests in ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
