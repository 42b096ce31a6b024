/**
 * The emulator process of the benchmark: fauxqs (SQS) and dynalite (DynamoDB) in memory, exactly as
 * `npm start` runs them (local/emulators.ts), with every request counted by operation
 * (bench/tally.ts). Started with an IPC channel by bench/run.ts; answers:
 *   { cmd: "tally" }  → { tally, cpu }   (cumulative: the driver subtracts snapshots)
 *   { cmd: "stop" }   → exits
 *
 * Counting uses Node's `http.server.request.start` diagnostics channel, which sees every request
 * of every server in this process before its handler does: no proxy hop, no change to the emulators.
 * For DynamoDB the request body is rewritten to ask for `ReturnConsumedCapacity` (see tally.ts),
 * through the emulators' guard after it has checked the signature: this is the one place the bench
 * touches an emulator's input.
 */
import { subscribe } from "node:diagnostics_channel";
import type { IncomingMessage, ServerResponse } from "node:http";
import { startEmulators } from "../local/emulators.ts";
import { emptyTally, operationOf, record, withConsumedCapacity } from "./tally.ts";

const tally = emptyTally();
const emulators = await startEmulators({
  rewriteBody: (service, target, body) => {
    const op = operationOf(target)?.op;
    if (service !== "dynamodb" || !op || body.length === 0) return body;
    try {
      return Buffer.from(withConsumedCapacity(op, body.toString("utf8")));
    } catch {
      return body; // not JSON: dynalite answers it with its own SerializationException
    }
  },
});

/** Captures the response body as the handler writes it, then tallies the request. */
function countOnFinish(req: IncomingMessage, res: ServerResponse): void {
  const target = req.headers["x-amz-target"] as string | undefined;
  if (!operationOf(target)) return;
  const parts: string[] = [];
  const keep = (chunk: unknown) => {
    if (typeof chunk === "string") parts.push(chunk);
    else if (chunk instanceof Uint8Array) parts.push(Buffer.from(chunk).toString("utf8"));
  };
  const write = res.write.bind(res) as (...a: unknown[]) => boolean;
  const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
  res.write = ((chunk: unknown, ...rest: unknown[]) => (keep(chunk), write(chunk, ...rest))) as ServerResponse["write"];
  res.end = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk !== "function") keep(chunk);
    return end(chunk, ...rest);
  }) as ServerResponse["end"];
  const requestBytes = Number(req.headers["content-length"] ?? 0);
  res.once("finish", () => record(tally, target, requestBytes, parts.join("")));
}

subscribe("http.server.request.start", (message) => {
  const { request, response } = message as { request: IncomingMessage; response: ServerResponse };
  countOnFinish(request, response);
});

process.on("message", async (m: { cmd: string }) => {
  if (m.cmd === "tally") process.send!({ tally, cpu: process.cpuUsage() });
  if (m.cmd === "stop") {
    await emulators.stop();
    process.exit(0);
  }
});
process.on("disconnect", () => process.exit(0));
process.send!({ ready: true, endpoints: emulators.endpoints });
