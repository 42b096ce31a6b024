import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request that reached the proxy: when (ms since the epoch), what, and what it did with it. */
export interface ProxiedRequest {
  at: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The upstream's status, when the request was forwarded. */
  upstreamStatus?: number;
}

/**
 * What the proxy does with the n-th request (1-based): forward it and pass the answer back, forward
 * it and then drop the connection instead of answering (the request took effect, its answer is
 * lost), or answer itself without forwarding.
 */
export type ProxyAction = "forward" | "drop-response" | { status: number; headers?: Record<string, string>; body?: string };

/** A loopback HTTP proxy in front of the API that records every request and can misbehave on cue. */
export class FaultyProxy {
  readonly requests: ProxiedRequest[] = [];
  private server?: Server;

  constructor(
    private readonly upstream: string,
    private readonly plan: (n: number, req: ProxiedRequest) => ProxyAction = () => "forward",
  ) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", async () => {
        const seen: ProxiedRequest = {
          at: Date.now(),
          method: req.method!,
          path: req.url!,
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        };
        this.requests.push(seen);
        const action = this.plan(this.requests.length, seen);
        if (typeof action === "object") {
          res.writeHead(action.status, { "content-type": "application/json", ...action.headers }).end(action.body ?? "");
          return;
        }
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers))
          if (v !== undefined && k !== "host" && k !== "connection" && k !== "content-length") headers[k] = String(v);
        const answer = await fetch(`${this.upstream}${req.url}`, { method: req.method, headers, body: seen.body === "" ? undefined : seen.body });
        const text = await answer.text();
        seen.upstreamStatus = answer.status;
        if (action === "drop-response") {
          req.socket.destroy();
          return;
        }
        res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" }).end(text);
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server!.closeAllConnections();
    return new Promise((r) => this.server!.close(() => r()));
  }
}
