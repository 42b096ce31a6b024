import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { readBody } from "./read-body.ts";

/**
 * The one door to the embedded emulators (issue 12 item 6). fauxqs and dynalite accept any request
 * (no authentication, `Access-Control-Allow-Origin: *` in dynalite's case), and fauxqs listens on
 * every interface when it listens at all. So neither listens: this server, on 127.0.0.1 only,
 * checks each request and hands the ones it accepts to the emulator's request handler in this
 * process. A request is accepted only if
 *   - it carries no `Origin` header (a browser page could otherwise read every signing secret) and
 *     its `Host` is this server's own loopback address (DNS rebinding);
 *   - it is an AWS JSON-protocol call (`POST /`, `x-amz-target: <prefix>.<Operation>`) for one of the
 *     services behind this door;
 *   - it is SigV4-signed, within 15 minutes of now, with this stack's own access key and secret,
 *     for the service its target names (the signature recomputed with @smithy/signature-v4 over
 *     the headers it signed and the exact body).
 * Everything else is refused in the AWS JSON error shape (400 for a signature, 403 for access, as
 * DynamoDB and KMS answer), with no CORS header.
 */

export interface EmulatorCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface GuardedService {
  /** The SigV4 signing name (`sqs`, `dynamodb`). */
  signingName: string;
  /** The `x-amz-target` prefixes it answers (`AmazonSQS`, `DynamoDB_20120810`). */
  targetPrefixes: string[];
  handler: RequestHandler;
}

export interface GuardOptions {
  credentials: EmulatorCredentials;
  services: GuardedService[];
  /** Largest body accepted (dynalite's own limit, 16 MiB, by default). */
  maxBodyBytes?: number;
  /**
   * Sees each accepted request's body before the emulator does and may return another one (the
   * benchmark adds `ReturnConsumedCapacity` to count DynamoDB capacity); the signature was checked
   * on the body as sent.
   */
  rewriteBody?: (signingName: string, target: string, body: Buffer) => Buffer;
}

export interface Guard {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** How far a request's `x-amz-date` may be from now, as on AWS. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

export type Verdict = { ok: true; signingName: string; region: string } | { ok: false; status: number; type: string; message: string };

/** As DynamoDB and KMS answer them (AWS's common errors): a bad or missing signature is a 400, a refusal of access a 403. */
const refuse = (type: string, message: string, status = type === "AccessDeniedException" ? 403 : 400): Verdict => ({ ok: false, status, type, message });

export interface SignedRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

/** Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`. */
function parseAuthorization(
  value: string,
): { keyId: string; date: string; region: string; service: string; signedHeaders: string[]; signature: string } | undefined {
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/.exec(
      value.trim(),
    );
  if (!m) return undefined;
  return { keyId: m[1], date: m[2], region: m[3], service: m[4], signedHeaders: m[5].split(";"), signature: m[6] };
}

/** `20261201T230501Z` → Date; undefined when malformed. */
function parseAmzDate(value: string | undefined): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value ?? "");
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

const sameSecret = (a: string, b: string) => {
  const [x, y] = [createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest()];
  return timingSafeEqual(x, y);
};

/**
 * Checks one request's SigV4 signature against the stack's credentials. `signingNames` maps each
 * accepted signing name to its target prefixes.
 */
export async function verifyRequest(
  req: SignedRequest,
  credentials: EmulatorCredentials,
  services: Pick<GuardedService, "signingName" | "targetPrefixes">[],
  now = Date.now(),
): Promise<Verdict> {
  const header = (name: string) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(",") : v;
  };
  const target = header("x-amz-target") ?? "";
  const prefix = target.slice(0, target.indexOf("."));
  const service = services.find((s) => s.targetPrefixes.includes(prefix));
  if (req.method !== "POST" || req.path !== "/" || !service || !/^[A-Za-z0-9_]+\.[A-Za-z]+$/.test(target)) {
    return refuse(
      "AccessDeniedException",
      `this endpoint serves the local stack's AWS SDK clients only: POST / with an x-amz-target of ${services.flatMap((s) => s.targetPrefixes).join(", ")}`,
    );
  }
  const authorization = header("authorization");
  if (!authorization) return refuse("MissingAuthenticationTokenException", "Request is missing Authentication Token");
  const auth = parseAuthorization(authorization);
  if (!auth)
    return refuse(
      "IncompleteSignatureException",
      "Authorization must be AWS4-HMAC-SHA256 Credential=…/date/region/service/aws4_request, SignedHeaders=…, Signature=…",
    );
  if (!sameSecret(auth.keyId, credentials.accessKeyId)) {
    return refuse("UnrecognizedClientException", "The security token included in the request is invalid.");
  }
  if (auth.service !== service.signingName) {
    return refuse("InvalidSignatureException", `Credential should be scoped to correct service: '${service.signingName}'.`);
  }
  const signingDate = parseAmzDate(header("x-amz-date"));
  if (!signingDate || !auth.signedHeaders.includes("x-amz-date") || !auth.signedHeaders.includes("host")) {
    return refuse("IncompleteSignatureException", "the signature must cover the host and x-amz-date headers");
  }
  if (Math.abs(now - signingDate.getTime()) > MAX_CLOCK_SKEW_MS) {
    return refuse("InvalidSignatureException", `Signature expired: ${header("x-amz-date")} is more than 15 minutes from now`);
  }
  if (auth.date !== header("x-amz-date")!.slice(0, 8)) {
    return refuse("InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from X-Amz-Date");
  }
  const bodyHash = createHash("sha256").update(req.body).digest("hex");
  const declaredHash = header("x-amz-content-sha256");
  if (declaredHash !== undefined && declaredHash !== bodyHash) {
    return refuse("InvalidSignatureException", "x-amz-content-sha256 does not match the body");
  }
  const signed: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    if (name === "x-amz-date") continue; // the signer sets it from signingDate
    const v = header(name);
    if (v === undefined) return refuse("InvalidSignatureException", `signed header ${name} is missing`);
    signed[name] = v;
  }
  const signer = new SignatureV4({ service: service.signingName, region: auth.region, credentials, sha256: Hash.bind(null, "sha256"), applyChecksum: false });
  const expected = await signer.sign(
    { method: req.method, protocol: "http:", hostname: "", path: req.path, query: {}, headers: signed, body: req.body },
    { signingDate, signableHeaders: new Set(auth.signedHeaders) },
  );
  const recomputed = parseAuthorization(String(expected.headers.authorization));
  const match =
    recomputed !== undefined &&
    recomputed.signedHeaders.join(";") === auth.signedHeaders.join(";") &&
    timingSafeEqual(Buffer.from(recomputed.signature, "hex"), Buffer.from(auth.signature, "hex"));
  if (!match) {
    return refuse(
      "InvalidSignatureException",
      "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
    );
  }
  return { ok: true, signingName: service.signingName, region: auth.region };
}

function answer(res: ServerResponse, status: number, type: string, message: string): void {
  const body = JSON.stringify({ __type: `com.amazon.coral.service#${type}`, message });
  res.writeHead(status, { "content-type": "application/x-amz-json-1.0", "x-amzn-errortype": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/**
 * The request as the emulator's handler reads it: the same method, URL, headers and socket, and a
 * stream of the body that was already read (and checked) here.
 */
function replay(req: IncomingMessage, body: Buffer): IncomingMessage {
  const headers = { ...req.headers, "content-length": String(body.length) };
  return Object.assign(Readable.from(body.length ? [body] : []), {
    headers,
    rawHeaders: req.rawHeaders,
    method: req.method,
    url: req.url,
    httpVersion: req.httpVersion,
    httpVersionMajor: req.httpVersionMajor,
    httpVersionMinor: req.httpVersionMinor,
    socket: req.socket,
    connection: req.socket,
    complete: true,
    aborted: false,
  }) as unknown as IncomingMessage;
}

export async function startGuard(o: GuardOptions): Promise<Guard> {
  const maxBodyBytes = o.maxBodyBytes ?? 16 * 1024 * 1024;
  let ownHosts: Set<string> = new Set();
  const server = createServer(async (req, res) => {
    try {
      // A browser sends Origin on every cross-origin request and on every POST: none is served, and
      // no CORS header ever says otherwise (a preflight gets the same 403).
      if (req.headers.origin !== undefined || req.method === "OPTIONS") {
        return answer(res, 403, "AccessDeniedException", "browser requests are refused: this endpoint serves the local stack's own AWS SDK clients only");
      }
      if (!ownHosts.has(req.headers.host ?? "")) {
        return answer(res, 403, "AccessDeniedException", `Host must be this endpoint's own address (${[...ownHosts][0]})`);
      }
      const body = await readBody(req, maxBodyBytes);
      if (body === undefined) return answer(res, 413, "RequestEntityTooLargeException", `request body is larger than ${maxBodyBytes} bytes`);
      const verdict = await verifyRequest({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body }, o.credentials, o.services);
      if (!verdict.ok) return answer(res, verdict.status, verdict.type, verdict.message);
      const service = o.services.find((s) => s.signingName === verdict.signingName)!;
      const target = String(req.headers["x-amz-target"]);
      const forwarded = o.rewriteBody ? o.rewriteBody(service.signingName, target, body) : body;
      service.handler(replay(req, forwarded), res);
    } catch (err) {
      if (!res.headersSent) answer(res, 500, "InternalFailure", (err as Error).message);
      else res.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  ownHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
