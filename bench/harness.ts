/** Plumbing of the benchmark driver: child processes with a request/answer IPC, and publishing. */
import { fork, type ChildProcess } from "node:child_process";
import { join, resolve } from "node:path";
import http from "node:http";
import { EVENT_TYPE, eventData } from "./payload.ts";

const ROOT = resolve(import.meta.dirname, "..");

/**
 * A TypeScript child process (run through tsx) with an IPC channel. Each child answers its messages
 * in order, so answers are matched to questions first in, first out; its first message is `ready`.
 */
export class Child {
  private waiting: { resolve: (m: any) => void; reject: (e: Error) => void }[] = [];
  readonly ready: Promise<any>;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    this.ready = new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
    proc.on("message", (m) => this.waiting.shift()?.resolve(m));
    proc.on("exit", (code, signal) => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`${name} exited (${signal ?? code}) before answering`));
    });
  }

  static start(name: string, file: string, args: string[] = [], o: { env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {}): Child {
    const proc = fork(join(ROOT, file), args, {
      execArgv: ["--import", "tsx", ...(o.nodeArgs ?? [])],
      env: { ...process.env, ...o.env },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return new Child(name, proc);
  }

  ask<T = any>(message: object): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.proc.send(message);
    });
  }

  /** Asks the child to stop and waits for it to exit. */
  async stop(message: object = { cmd: "stop" }): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once("exit", r));
    if (this.proc.connected) this.proc.send(message);
    else this.proc.kill("SIGTERM");
    await exited;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Publishes through the local stack's real HTTP API, `{"events": [...]}` batches of up to 100. */
export class Publisher {
  /** The bench's own client to the local API (plain http): at most 16 kept-alive connections. */
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  private seq = 0;

  constructor(
    private readonly apiUrl: string,
    private readonly token: string,
  ) {}

  /** `n` events spread over `tenants`, each carrying the time it was published. */
  events(n: number, tenants: readonly string[]) {
    const publishedAt = Date.now();
    return Array.from({ length: n }, () => {
      const s = this.seq++;
      return { type: EVENT_TYPE, tenantId: tenants[s % tenants.length], data: eventData(s, publishedAt) };
    });
  }

  async publish(n: number, tenants: readonly string[]): Promise<void> {
    const body = JSON.stringify({ events: this.events(n, tenants) });
    const headers = { authorization: `Bearer ${this.token}`, "content-type": "application/json" };
    const { statusCode, text } = await new Promise<{ statusCode: number; text: string }>((resolve, reject) => {
      const req = http.request(`${this.apiUrl}/events`, { method: "POST", headers, agent: this.agent }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ statusCode: res.statusCode ?? 0, text }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
    if (statusCode !== 202) throw new Error(`POST /events answered ${statusCode}: ${text.slice(0, 500)}`);
  }

  /** As fast as the API takes them: `concurrency` calls of 100 events in flight. */
  async flood(total: number, tenants: readonly string[], concurrency = 4): Promise<void> {
    let queued = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (queued < total) {
          const n = Math.min(100, total - queued);
          queued += n;
          await this.publish(n, tenants);
        }
      }),
    );
  }

  /** Open loop at `perSecond` events/s for `seconds`: a call every 100 ms, not waiting for the last. */
  async paced(perSecond: number, seconds: number, tenants: readonly string[]): Promise<number> {
    const total = Math.max(1, Math.round(perSecond * seconds));
    const start = performance.now();
    const calls: Promise<void>[] = [];
    let sent = 0;
    for (let tick = 1; sent < total; tick++) {
      const due = Math.min(total, Math.round((perSecond * tick) / 10));
      while (sent < due) {
        const n = Math.min(100, due - sent);
        sent += n;
        calls.push(this.publish(n, tenants));
      }
      await sleep(Math.max(0, start + tick * 100 - performance.now()));
    }
    await Promise.all(calls);
    return total;
  }

  /** The body of one `POST /events` call, for the ingest λ probe. */
  body(n: number, tenants: readonly string[]): string {
    return JSON.stringify({ events: this.events(n, tenants) });
  }

  close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }
}
