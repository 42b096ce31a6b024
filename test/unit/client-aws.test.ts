import { execFile, spawnSync } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { apiRegion, sigv4, stackApiUrl, WebhooksClient, type DescribeStacks, type OutgoingRequest } from "../../client/index.ts";

/**
 * The deployed-stack side of the client (and so of the CLI), which cannot run here (no AWS): the
 * SigV4 signature of its requests, checked against an independent computation of the algorithm and
 * against curl's own `--aws-sigv4`, and the lookup of the API's URL in the stack's outputs through
 * an injected DescribeStacks function.
 */
const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
const signingDate = new Date("2026-11-26T10:00:00Z");
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const hmac = (key: string | Buffer, s: string) => createHmac("sha256", key).update(s).digest();

/** SigV4 by the book (AWS General Reference, "Create a signed AWS API request"), for one request as received. */
function expectedSignature(r: { method: string; path: string; query: string; headers: Record<string, string>; body: string }, signed: string[]): string {
  const canonicalQuery = [...new URLSearchParams(r.query)]
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .sort()
    .join("&");
  const canonical = [r.method, r.path, canonicalQuery, ...signed.map((h) => `${h}:${r.headers[h].trim()}`), "", signed.join(";"), sha256(r.body)].join("\n");
  const scope = "20261126/eu-west-1/execute-api/aws4_request";
  const toSign = ["AWS4-HMAC-SHA256", "20261126T100000Z", scope, sha256(canonical)].join("\n");
  let key: Buffer = hmac(`AWS4${credentials.secretAccessKey}`, "20261126");
  for (const part of ["eu-west-1", "execute-api", "aws4_request"]) key = hmac(key, part);
  return createHmac("sha256", key).update(toSign).digest("hex");
}

describe("sigv4", () => {
  const authorize = sigv4({ region: "eu-west-1", credentials, signingDate });

  test("signs for execute-api with the credential scope of the date and region, and leaves host to fetch", async () => {
    const req: OutgoingRequest = {
      method: "GET",
      url: new URL("https://abc123.execute-api.eu-west-1.amazonaws.com/tenants/acct_1/webhooks?limit=100"),
      headers: { accept: "application/json" },
    };
    const headers = await authorize(req);
    expect(headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20261126\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=accept;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/,
    );
    expect(headers["x-amz-date"]).toBe("20261126T100000Z");
    expect(headers.host).toBeUndefined();
    expect(headers.authorization.split("Signature=")[1]).toBe(
      expectedSignature(
        {
          method: "GET",
          path: "/tenants/acct_1/webhooks",
          query: "limit=100",
          headers: { ...req.headers, host: req.url.host, ...headers },
          body: "",
        },
        ["accept", "host", "x-amz-content-sha256", "x-amz-date"],
      ),
    );
  });

  test("a session token is sent as x-amz-security-token and signed", async () => {
    const withToken = sigv4({ region: "eu-west-1", credentials: { ...credentials, sessionToken: "FwoGZXIvYXdzEXAMPLE" }, signingDate });
    const headers = await withToken({ method: "GET", url: new URL("https://abc123.execute-api.eu-west-1.amazonaws.com/admin/dlq"), headers: {} });
    expect(headers["x-amz-security-token"]).toBe("FwoGZXIvYXdzEXAMPLE");
    expect(headers.authorization).toContain("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,");
  });

  test("credentials may come from a provider function, as the default chain gives them", async () => {
    const fromProvider = sigv4({ region: "eu-west-1", credentials: async () => credentials, signingDate });
    const req: OutgoingRequest = { method: "GET", url: new URL("https://abc123.execute-api.eu-west-1.amazonaws.com/admin/dlq"), headers: {} };
    expect(await fromProvider(req)).toEqual(await authorize(req));
  });

  test("what the client sends is what was signed: the receiver recomputes the same signature", async () => {
    const received: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        received.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        res.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ replayed: 0 }));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const { port } = server.address() as AddressInfo;
      const client = new WebhooksClient({ apiUrl: `http://127.0.0.1:${port}/prod/`, authorize });
      const body = { since: "2026-11-26T09:00:00Z", status: "failed" as const };
      expect(await client.replay("acct_1", "wh_1", body)).toEqual({ replayed: 0 });

      const [r] = received;
      const url = new URL(r.url, "http://x");
      expect(url.pathname).toBe("/prod/tenants/acct_1/webhooks/wh_1/replay");
      expect(r.body).toBe(JSON.stringify(body));
      const auth = String(r.headers.authorization);
      const signed = /SignedHeaders=([^,]+)/.exec(auth)![1].split(";");
      expect(signed).toEqual(["accept", "content-type", "host", "x-amz-content-sha256", "x-amz-date"]);
      const headers = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, String(v)]));
      expect(auth.split("Signature=")[1]).toBe(expectedSignature({ method: "POST", path: url.pathname, query: url.search, headers, body: r.body }, signed));
      // The same request with another body would carry another signature.
      expect(auth.split("Signature=")[1]).not.toBe(expectedSignature({ method: "POST", path: url.pathname, query: url.search, headers, body: "{}" }, signed));
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

/** curl ≥ 7.75 signs with `--aws-sigv4`: an implementation of SigV4 that shares no code with the AWS SDK. */
const curl = spawnSync("curl", ["--version"], { encoding: "utf8" });
const curlSigns = curl.status === 0 && curl.stdout.includes("curl ") && !/^curl 7\.([0-6]\d|7[0-4])\./.test(curl.stdout);

(curlSigns ? test : test.skip)("curl --aws-sigv4 signs the same request with the same signature", async () => {
  const received: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      received.push(req.headers);
      res.end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  try {
    const { port } = server.address() as AddressInfo;
    const body = JSON.stringify({ type: "record.created", tenantId: "acct_1", data: { recordId: "rec_1" } });
    const url = new URL(`http://127.0.0.1:${port}/prod/events?x=1`);
    const headers = { accept: "application/json", "content-type": "application/json" };
    const ours = await sigv4({ region: "eu-west-1", credentials, signingDate })({ method: "POST", url, headers, body });
    // curl takes the date and the payload hash as given, and signs every header it is given.
    const args = [
      "-s",
      "-X",
      "POST",
      url.toString(),
      "--data-binary",
      body,
      "--aws-sigv4",
      "aws:amz:eu-west-1:execute-api",
      "--user",
      `${credentials.accessKeyId}:${credentials.secretAccessKey}`,
      "-H",
      "accept: application/json",
      "-H",
      "content-type: application/json",
      "-H",
      `x-amz-date: ${ours["x-amz-date"]}`,
      "-H",
      `x-amz-content-sha256: ${ours["x-amz-content-sha256"]}`,
    ];
    await new Promise<void>((resolve, reject) => execFile("curl", args, (err) => (err ? reject(err) : resolve())));
    expect(received).toHaveLength(1);
    expect(ours["x-amz-content-sha256"]).toBe(sha256(body));
    expect(received[0].authorization).toBe(ours.authorization);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

describe("stackApiUrl", () => {
  const answer = (outputs: { OutputKey: string; OutputValue: string }[]) => async () => ({
    Stacks: [{ StackName: "RecordsKeeperWebhooks", StackStatus: "UPDATE_COMPLETE", Outputs: outputs }],
  });

  test("reads the ApiUrl output of the named stack", async () => {
    const asked: string[] = [];
    const describe: DescribeStacks = async (name: string) => {
      asked.push(name);
      return answer([
        { OutputKey: "DlqUrl", OutputValue: "https://sqs.eu-west-1.amazonaws.com/123/dlq" },
        { OutputKey: "ApiUrl", OutputValue: "https://abc123.execute-api.eu-west-1.amazonaws.com/" },
      ])();
    };
    expect(await stackApiUrl("RecordsKeeperWebhooks", describe)).toBe("https://abc123.execute-api.eu-west-1.amazonaws.com/");
    expect(asked).toEqual(["RecordsKeeperWebhooks"]);
  });

  test("a stack without the output, no stack, and a failing call are errors that say which", async () => {
    await expect(stackApiUrl("Other", answer([{ OutputKey: "BucketName", OutputValue: "b" }]))).rejects.toThrow(
      "stack Other (UPDATE_COMPLETE) has no ApiUrl output: is it a RecordsKeeper webhooks stack, fully deployed?",
    );
    await expect(stackApiUrl("Gone", async () => ({ Stacks: [] }))).rejects.toThrow("stack Gone not found");
    await expect(
      stackApiUrl("Gone", async () => {
        throw new Error("Stack with id Gone does not exist");
      }),
    ).rejects.toThrow("cannot read stack Gone: Stack with id Gone does not exist");
  });

  test("the signing region comes from the API's hostname", () => {
    expect(apiRegion("https://abc123.execute-api.eu-west-1.amazonaws.com/")).toBe("eu-west-1");
    expect(apiRegion("https://abc123.execute-api.cn-north-1.amazonaws.com.cn/")).toBe("cn-north-1");
    expect(apiRegion("https://webhooks.example.com/")).toBeUndefined();
  });
});
