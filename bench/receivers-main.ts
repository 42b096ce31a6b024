/**
 * The benchmark's webhook endpoints: `count` plain node:http servers on 127.0.0.1 in one process
 * (argv[2], default 12), each answering every POST after an optional delay. They record when each
 * delivery arrived, minus the `publishedAt` its payload carries: publish → received latency.
 *
 * IPC commands (bench/run.ts):
 *   { cmd: "configure", delaysMs: number[], failFirst: number }
 *       resets the counters; server i waits delaysMs[i] ms (missing: 0) before answering; each
 *       (endpoint, webhook-id) pair gets 500 for its first `failFirst` attempts, then 200.
 *   { cmd: "progress" } → { accepted, failed, firstAt, lastAt, cpu } (cpu: this process's cpuUsage)
 *   { cmd: "collect" }  → the same plus latencies (ms, one per accepted delivery) and duplicates
 *   { cmd: "stop" }     → exits
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { publishedAtOf } from "./payload.ts";

const count = Number(process.argv[2] ?? 12);
let delaysMs: number[] = [];
let failFirst = 0;
let accepted = 0;
let failed = 0;
let firstAt = 0;
let lastAt = 0;
let latencies: number[] = [];
let attempts = new Map<string, number>();
let duplicates = 0;

function reset(): void {
  accepted = failed = firstAt = lastAt = duplicates = 0;
  latencies = [];
  attempts = new Map();
}

function serve(index: number): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const arrived = Date.now();
      const body = Buffer.concat(chunks).toString("utf8");
      const key = `${index}:${req.headers["webhook-id"]}`;
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      const ok = n > failFirst;
      const answer = () => {
        res.writeHead(ok ? 200 : 500, { "content-length": "0" });
        res.end();
      };
      if (ok) {
        accepted++;
        if (n > failFirst + 1) duplicates++;
        firstAt ||= arrived;
        lastAt = arrived;
        const published = publishedAtOf(body);
        if (published !== undefined) latencies.push(arrived - published);
      } else failed++;
      const delay = delaysMs[index] ?? 0;
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  });
}

const servers = await Promise.all(
  Array.from({ length: count }, (_, i) => {
    const server = serve(i);
    return new Promise<Server>((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
  }),
);

process.on("message", (m: { cmd: string; delaysMs?: number[]; failFirst?: number }) => {
  if (m.cmd === "configure") {
    delaysMs = m.delaysMs ?? [];
    failFirst = m.failFirst ?? 0;
    reset();
    process.send!({ configured: true });
  }
  if (m.cmd === "progress") process.send!({ accepted, failed, firstAt, lastAt, cpu: process.cpuUsage() });
  if (m.cmd === "collect") process.send!({ accepted, failed, firstAt, lastAt, duplicates, latencies, cpu: process.cpuUsage() });
  if (m.cmd === "stop") process.exit(0);
});
process.on("disconnect", () => process.exit(0));
process.send!({ ready: true, urls: servers.map((s) => `http://127.0.0.1:${(s.address() as AddressInfo).port}/hook`) });
