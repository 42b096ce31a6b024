import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import type { Ctx } from "./commands.ts";
import { UsageError } from "./errors.ts";
import { time } from "./output.ts";

/** One received request, as `inspect --json` prints it (one JSON object per line). */
export interface Inspected {
  at: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  /** `verified` and `invalid` need `--secret`; without it every request is `unverified`. */
  signature: "verified" | "invalid" | "unverified";
  /** Why the signature is invalid. */
  error?: string;
  /** The body, parsed when it is JSON. */
  body: unknown;
}

/**
 * A local staging endpoint: receives webhooks, verifies their signatures with the `standardwebhooks`
 * library (the one receivers use) when given the secret, and prints headers and body. It answers
 * `status` (default 200) to every request, except 401 to one whose signature is invalid, so that
 * the delivery log shows what a strict receiver would do.
 */
export async function inspectCommand(ctx: Ctx, o: { port: number; host: string; secret?: string; status: number }): Promise<void> {
  let verifier: Webhook | undefined;
  if (o.secret !== undefined) {
    try {
      verifier = new Webhook(o.secret);
    } catch (err) {
      throw new UsageError(`--secret is not a webhook secret (whsec_…): ${(err as Error).message}`);
    }
  }
  const server = createServer(async (req, res) => {
    const seen = await inspect(req, verifier);
    ctx.print(ctx.json ? JSON.stringify(seen) : formatInspected(seen));
    const invalid = seen.signature === "invalid";
    res.writeHead(invalid ? 401 : o.status, { "content-type": "application/json" });
    res.end(JSON.stringify(invalid ? { error: `signature invalid: ${seen.error}` } : { received: true }));
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(o.port, o.host, () => resolve()));
  const { port } = server.address() as AddressInfo;
  const url = `http://${o.host.includes(":") ? `[${o.host}]` : o.host}:${port}/`;
  if (ctx.json) ctx.print(JSON.stringify({ listening: url, verifying: verifier !== undefined }));
  else {
    ctx.print(
      `inspecting webhooks at ${url} — ${verifier ? "verifying signatures with the given secret" : "signatures unverified (pass --secret whsec_… to verify)"}`,
    );
    ctx.note("use it as a webhook's url on the local stack (it allows http and loopback); Ctrl-C stops");
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      server.closeAllConnections();
      server.close(() => resolve());
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

async function inspect(req: IncomingMessage, verifier: Webhook | undefined): Promise<Inspected> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  const raw = Buffer.concat(chunks).toString("utf8");
  const headers: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers[req.rawHeaders[i].toLowerCase()] = req.rawHeaders[i + 1];
  let signature: Inspected["signature"] = "unverified";
  let error: string | undefined;
  if (verifier) {
    try {
      verifier.verify(raw, headers);
      signature = "verified";
    } catch (err) {
      signature = "invalid";
      error = (err as Error).message;
    }
  }
  let body: unknown = raw;
  try {
    body = JSON.parse(raw);
  } catch {
    // not JSON: shown as received
  }
  return { at: new Date().toISOString(), method: req.method ?? "", path: req.url ?? "", headers, signature, ...(error ? { error } : {}), body };
}

export function formatInspected(r: Inspected): string {
  const mark = { verified: "✔ signature verified", invalid: `✖ signature invalid: ${r.error}`, unverified: "· signature unverified (no --secret)" }[
    r.signature
  ];
  return [
    `── ${r.method} ${r.path}  ${time(r.at)}  ${mark}`,
    ...Object.entries(r.headers).map(([k, v]) => `${k}: ${v}`),
    "",
    typeof r.body === "string" ? r.body : JSON.stringify(r.body, null, 2),
    "",
  ].join("\n");
}
