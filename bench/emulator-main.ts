/**
 * The emulator process of the benchmark: fauxqs (SQS) and dynalite (DynamoDB) in memory, exactly as
 * `npm start` runs them (local/emulators.ts), with every request counted by operation
 * (bench/tally.ts). Started with an IPC channel by bench/run.ts; answers:
 *   { cmd: "tally" }  → { tally, cpu }   (cumulative: the driver subtracts snapshots)
 *   { cmd: "stop" }   → exits
 *
 * Counting uses Node's `http.server.request.start` diagnostics channel, which sees every request
 * of every server in this process before its handler does: no proxy hop, no change to the emulators.
 * For DynamoDB the request body is rewritten to ask for `ReturnConsumedCapacity` (see tally.ts);
 * this is the one place the bench touches an emulator's input.
 */
import { subscribe } from "node:diagnostics_channel";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { startEmulators } from "../local/emulators.ts";
import { emptyTally, operationOf, record, withConsumedCapacity } from "./tally.ts";

const tally = emptyTally();
const emulators = await startEmulators();
const dynamodbPort = Number(new URL(emulators.dynamodbEndpoint).port);
const wrapped = new WeakSet<Server>();

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

/**
 * dynalite's request listener, behind one that first reads the body and adds
 * `ReturnConsumedCapacity`, then hands dynalite a stream of the rewritten body.
 */
function wrapDynalite(server: Server): void {
  const [original] = server.listeners("request") as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners("request");
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const op = operationOf(req.headers["x-amz-target"] as string | undefined)?.op;
      let rewritten = body;
      try {
        if (op && body) rewritten = withConsumedCapacity(op, body);
      } catch {
        // Not JSON: dynalite answers it with its own SerializationException.
      }
      const replay = Object.assign(Readable.from([Buffer.from(rewritten)]), { headers: req.headers, method: req.method, url: req.url });
      original.call(server, replay as unknown as IncomingMessage, res);
    });
  });
}

subscribe("http.server.request.start", (message) => {
  const { request, response, server } = message as { request: IncomingMessage; response: ServerResponse; server: Server };
  const port = (server.address() as { port?: number } | null)?.port;
  if (port === dynamodbPort && !wrapped.has(server)) {
    wrapped.add(server);
    wrapDynalite(server); // takes effect for this very request: the listeners are read after this channel
  }
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
process.send!({ ready: true, endpoints: { sqs: emulators.sqsEndpoint, dynamodb: emulators.dynamodbEndpoint } });
