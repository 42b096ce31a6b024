/**
 * What bounds the λs' cold start: the libraries each bundle holds, each bundled alone exactly as the
 * stack bundles a λ (bench/bundle.ts) and loaded in fresh Node processes, next to the whole λs.
 * `npx tsx bench/import-parts.ts [runs]` (default 9); the results go to docs/performance.md by hand.
 */
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { ENV } from "#core/settings.ts";
import { buildBundles, emptyModule, importSamples } from "./bundle.ts";

const ROOT = resolve(import.meta.dirname, "..");
const PARTS: Record<string, string> = {
  zod: 'export * from "zod";',
  "DynamoDB (client + lib-dynamodb)": 'export * from "@aws-sdk/lib-dynamodb"; export { DynamoDBClient } from "@aws-sdk/client-dynamodb";',
  "SQS client": 'export { SQSClient, SendMessageBatchCommand } from "@aws-sdk/client-sqs";',
  "DynamoDB + SQS (shared @smithy/@aws-sdk core counted once)":
    'export * from "@aws-sdk/lib-dynamodb"; export { DynamoDBClient } from "@aws-sdk/client-dynamodb"; export { SQSClient, SendMessageBatchCommand } from "@aws-sdk/client-sqs";',
  "DynamoDB + SQS + KMS":
    'export * from "@aws-sdk/lib-dynamodb"; export { DynamoDBClient } from "@aws-sdk/client-dynamodb"; export { SQSClient } from "@aws-sdk/client-sqs"; export { KMSClient } from "@aws-sdk/client-kms";',
  "Powertools logger + metrics + batch, middy":
    'export * from "@aws-lambda-powertools/logger"; export * from "@aws-lambda-powertools/metrics"; export * from "@aws-lambda-powertools/batch"; export * from "@middy/core";',
};
const runs = Number(process.argv[2] ?? 9);
const dir = join(tmpdir(), `rk-import-parts-${process.pid}`);
mkdirSync(dir, { recursive: true });
const env: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  AWS_REGION: "us-east-1",
  AWS_EXECUTION_ENV: "AWS_Lambda_nodejs24.x",
  [ENV.subscriptionsTable]: "subscriptions",
  [ENV.eventsTable]: "events",
  [ENV.deliveriesTable]: "deliveries",
  [ENV.portalSessionsTable]: "portal-sessions",
  [ENV.deliveryQueueUrl]: "https://sqs.us-east-1.amazonaws.com/123456789012/deliveries",
  [ENV.dlqUrl]: "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
  [ENV.secretsKeyArn]: "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(importSamples(emptyModule(dir), env, runs));
const rows: [string, number, number, number][] = [];
for (const [name, contents] of Object.entries(PARTS)) {
  const file = join(dir, `${rows.length}.cjs`);
  await build({
    stdin: { contents, resolveDir: ROOT, loader: "ts" },
    outfile: file,
    bundle: true,
    platform: "node",
    target: "node24",
    format: "cjs",
    minify: true,
    logLevel: "error",
  });
  const s = importSamples(file, env, runs);
  rows.push([name, statSync(file).size, median(s) - base, Math.min(...s) - base]);
}
for (const b of await buildBundles(join(dir, "lambdas"))) {
  const s = importSamples(b.file, env, runs);
  rows.push([`the ${b.name} λ`, b.bytes, median(s) - base, Math.min(...s) - base]);
}
const lines = ["| bundle | KB | import ms, median | fastest |", "| --- | ---: | ---: | ---: |"];
for (const [name, bytes, med, min] of rows)
  lines.push(`| ${name} | ${Math.round(bytes / 1024).toLocaleString("en-US")} | ${med.toFixed(0)} | ${min.toFixed(0)} |`);
lines.push("", `${runs} fresh processes each; an empty module's ${base.toFixed(1)} ms taken off.`);
writeFileSync(join(dir, "table.md"), lines.join("\n"));
console.log(lines.join("\n"));
