/**
 * The limit: a bare loop that signs and POSTs the benchmark's payloads straight to the receivers,
 * with the deliver λ's own signing (lambdas/core/signing.ts) and HTTP sender (NodeHttpSender:
 * keep-alive node:http agents, the same connect-time endpoint guard), and nothing else: no queue,
 * no database.
 *
 * Config as JSON in argv[2]: { urls, secret, requests, concurrency }. Reports over IPC:
 * { requests, ok, wallMs, cpuMs } — CPU of this process over the loop, as for the worker.
 */
import { NodeHttpSender } from "#adapters/node-http-sender.ts";
import { signatureHeader } from "#core/signing.ts";
import { USER_AGENT } from "#core/version.ts";
import { deliveredPayload } from "./payload.ts";
import { cpuMs } from "./stats.ts";

const { urls, secret, requests, concurrency } = JSON.parse(process.argv[2]) as { urls: string[]; secret: string; requests: number; concurrency: number };
const sender = new NodeHttpSender({ allowPrivate: true });

async function post(seq: number): Promise<boolean> {
  const now = Date.now();
  const payload = deliveredPayload(seq, "acct_bench_bare", now);
  const id = `evt_bare_${seq}`;
  const timestamp = Math.floor(now / 1000);
  const headers = {
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": signatureHeader([secret], id, timestamp, payload),
  };
  const result = await sender.post(urls[seq % urls.length], headers, payload, 10_000);
  return result.error === undefined;
}

async function run(from: number, n: number): Promise<number> {
  let next = from;
  let ok = 0;
  const end = from + n;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < end) if (await post(next++)) ok++;
    }),
  );
  return ok;
}

await run(0, Math.min(1_000, requests)); // warm-up: connections, JIT
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const ok = await run(1_000_000, requests);
const wallMs = performance.now() - t0;
process.send!({ requests, ok, wallMs, cpuMs: cpuMs(cpu0, process.cpuUsage()) });
await sender.close();
process.disconnect();
