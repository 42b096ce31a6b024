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

/**
 * A real HTTP endpoint on 127.0.0.1 that records what it receives and misbehaves on demand:
 * error statuses, delays, connection resets, requests it never answers, bodies that never end.
 */
export class TestReceiver {
  readonly requests: Received[] = [];
  connections = 0;
  private server?: Server;
  private sockets = new Set<Socket>();
  private waiters: { count: number; resolve: () => void }[] = [];

  constructor(private behaviour: (index: number, req: Received) => Behaviour = () => ({ kind: "status", status: 200 })) {}

  get url(): string {
    const { port } = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${port}/hooks`;
  }

  respondWith(behaviour: (index: number, req: Received) => Behaviour): void {
    this.behaviour = behaviour;
  }

  /** Listens on `port` (0: one the OS picks); a stopped receiver restarts on its old port with `start(port)`. */
  async start(port = 0): Promise<this> {
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
    await new Promise<void>((r) => this.server!.listen(port, "127.0.0.1", () => r()));
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
