import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The README's deploy section as a first deployer runs it, where no AWS account is at hand: its
 * `API_URL=$(aws cloudformation describe-stacks …)` line runs in bash against a stand-in `aws` that
 * checks the arguments it is given and answers as the real one does (the `ApiUrl` output ends in
 * `/`), and `$API_URL/event-types` then has a single slash.
 */
const ROOT = join(import.meta.dirname, "..", "..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const deploy = readme.slice(readme.indexOf("## Deploy"), readme.indexOf("## Operate"));

test("the API_URL line reads the ApiUrl output and drops its trailing slash", () => {
  const line = deploy.split("\n").find((l) => l.startsWith("API_URL=$(aws cloudformation describe-stacks"));
  expect(line).toBeDefined();
  const bin = mkdtempSync(join(tmpdir(), "rk-fake-aws-"));
  try {
    const expected = [
      "cloudformation",
      "describe-stacks",
      "--stack-name",
      "RecordsKeeperWebhooks",
      "--query",
      "Stacks[0].Outputs[?OutputKey=='ApiUrl'].OutputValue",
      "--output",
      "text",
    ];
    writeFileSync(
      join(bin, "aws"),
      `#!/usr/bin/env bash\nif [ "$*" != ${JSON.stringify(expected.join(" "))} ]; then echo "unexpected: $*" >&2; exit 2; fi\necho "https://abc123.execute-api.eu-west-1.amazonaws.com/"\n`,
    );
    chmodSync(join(bin, "aws"), 0o755);
    const run = spawnSync("bash", ["-c", `set -e\n${line}\necho "$API_URL/event-types"`], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      encoding: "utf8",
    });
    expect({ status: run.status, stdout: run.stdout, stderr: run.stderr }).toEqual({
      status: 0,
      stdout: "https://abc123.execute-api.eu-west-1.amazonaws.com/event-types\n",
      stderr: "",
    });
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test("the deploy section names the prerequisites a first deploy needs", () => {
  for (const fact of [
    "npx cdk bootstrap",
    "npx cdk deploy",
    "AWS_REGION=",
    "--profile",
    "cdk-hnb659fds-",
    "Do you wish to deploy these changes (y/n)?",
    "--require-approval never",
    "--stack RecordsKeeperWebhooks --region",
    "recordskeeper-webhooks/client",
  ]) {
    expect([fact, deploy.replace(/\s+/g, " ").includes(fact)]).toEqual([fact, true]);
  }
});
