/**
 * `rk-webhooks`: the operator CLI (design §1, §7). Lists webhooks and deliveries, shows attempts,
 * replays, sends test events, watches and redrives the DLQ, follows attempts live, and runs a local
 * staging endpoint that verifies signatures. It talks to the local stack (`npm start`; URL and token
 * from `<state dir>/local-stack.json`) or to a deployed stack (`--stack NAME`; URL from the stack's
 * outputs, requests SigV4-signed with the default AWS credentials).
 *
 * Exit codes: 0 ok, 1 the API or the network failed (the API's message on stderr), 2 usage error.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { DELIVERY_STATUSES, type DeliveryStatus } from "#core/model.ts";
import { parseDuration } from "#core/retry.ts";
import { version } from "#core/version.ts";
import { CliError, EXIT, UsageError } from "./cli/errors.ts";
import {
  deliveriesCommand,
  dlqCommand,
  redriveCommand,
  replayCommand,
  sendTestCommand,
  showCommand,
  webhooksCommand,
  type Ctx,
} from "./cli/commands.ts";
import { inspectCommand } from "./cli/inspect.ts";
import { tailCommand } from "./cli/tail.ts";
import { connect, type TargetOptions } from "./cli/target.ts";

const integer = (min: number, max = Number.MAX_SAFE_INTEGER) => (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
  return n;
};

const seconds = (value: string) => {
  try {
    return parseDuration(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};

const statusOption = (description: string) => new Option("--status <status>", description).choices(DELIVERY_STATUSES as DeliveryStatus[]);

function buildProgram(): Command {
  const program = new Command("rk-webhooks");
  program
    .description("Operate RecordsKeeper.AI webhooks: deliveries, replay, DLQ redrive, live tail, a signature-checking staging endpoint.")
    .version(version)
    .option("--json", "print machine-readable JSON instead of text")
    .option("--state-dir <dir>", "the local stack's state dir (default: $WEBHOOKS_STATE_DIR or .local)")
    .option("--stack <name>", "a deployed stack by its CloudFormation name (bin/app.ts deploys RecordsKeeperWebhooks); requests are SigV4-signed")
    .option("--region <region>", "the deployed stack's region (default: the AWS SDK's, e.g. $AWS_REGION)")
    .option("--profile <profile>", "the AWS profile for --stack (default: the default credential chain)")
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError("(add --help for usage)")
    // Usage errors throw a CommanderError (exit 2) instead of exiting; set before the subcommands, which inherit it.
    .exitOverride();

  /** The context of the command being run, from the global options. */
  const ctx = (cmd: Command): Ctx => {
    const g = cmd.optsWithGlobals<TargetOptions & { json?: boolean }>();
    return {
      json: g.json === true,
      client: () => connect(g),
      print: (text) => process.stdout.write(`${text}\n`),
      note: (text) => process.stderr.write(`${text}\n`),
    };
  };
  const tenant = "--tenant <tenantId>";
  const webhook = "--webhook <webhookId>";

  program
    .command("webhooks")
    .description("list a tenant's webhooks")
    .requiredOption(tenant, "the tenant (RecordsKeeper.AI account id)")
    .action((o, cmd) => webhooksCommand(ctx(cmd), o));

  program
    .command("deliveries")
    .description("list deliveries, newest first: of one webhook, or of all the tenant's webhooks")
    .requiredOption(tenant, "the tenant")
    .option(webhook, "only this webhook (default: every webhook of the tenant)")
    .addOption(statusOption("only deliveries with this status"))
    .option("--limit <n>", "at most this many deliveries", integer(1, 10_000), 20)
    .action((o, cmd) => deliveriesCommand(ctx(cmd), o));

  program
    .command("show")
    .description("one delivery with all its attempts")
    .argument("<deliveryId>", "the delivery (dlv_…)")
    .requiredOption(tenant, "the tenant")
    .requiredOption(webhook, "the webhook the delivery belongs to")
    .action((id, o, cmd) => showCommand(ctx(cmd), id, o));

  program
    .command("replay")
    .description("send a past delivery again (same webhook-id), or every delivery of a webhook in a time range")
    .argument("[deliveryId]", "the delivery to replay (dlv_…); omit it and give --since to replay many")
    .requiredOption(tenant, "the tenant")
    .requiredOption(webhook, "the webhook")
    .option("--since <time>", "replay deliveries created since this ISO 8601 time, or this long ago (30m, 2h, 7d)")
    .option("--until <time>", "… and until this time (default: now)")
    .addOption(statusOption("… with this status (default: failed)"))
    .action((id, o, cmd) => replayCommand(ctx(cmd), id, o));

  program
    .command("send-test")
    .description("send an example event to a webhook now")
    .requiredOption(tenant, "the tenant")
    .requiredOption(webhook, "the webhook")
    .option("--type <eventType>", "the event type (default: the first one the webhook subscribes to)")
    .action((o, cmd) => sendTestCommand(ctx(cmd), o));

  program
    .command("dlq")
    .description("the dead-letter queue's depth")
    .action((_o, cmd) => dlqCommand(ctx(cmd)));

  program
    .command("redrive")
    .description("move every DLQ message back to the delivery queue; each starts a fresh retry schedule")
    .option("--timeout <duration>", "on AWS, follow the move task this long (e.g. 10m)", seconds, 600)
    .option("--interval <duration>", "on AWS, check the DLQ's depth this often", seconds, 2)
    .action((o, cmd) => redriveCommand(ctx(cmd), { timeoutSeconds: o.timeout, intervalMs: o.interval * 1000 }));

  program
    .command("tail")
    .description("follow new delivery attempts live, one line each (JSON lines with --json)")
    .requiredOption(tenant, "the tenant")
    .option(webhook, "only this webhook (default: every webhook of the tenant)")
    .option("--for <duration>", "stop after this long (e.g. 30s, 5m; default: until Ctrl-C)", seconds)
    .option("--interval <duration>", "poll this often", seconds, 1)
    .action((o, cmd) => tailCommand(ctx(cmd), { tenant: o.tenant, webhook: o.webhook, forSeconds: o.for, intervalMs: o.interval * 1000 }));

  program
    .command("inspect")
    .description("a local staging endpoint: receives webhooks, verifies their signatures, prints headers and body")
    .option("--port <port>", "listen on this port (0: a free one)", integer(0, 65_535), 4000)
    .option("--host <host>", "listen on this address", "127.0.0.1")
    .option("--secret <whsec>", "the webhook's secret: verify every signature with it")
    .option("--status <code>", "answer this HTTP status (an invalid signature always gets 401)", integer(100, 599), 200)
    .action((o, cmd) => inspectCommand(ctx(cmd), o));

  return program;
}

/** Runs the CLI; resolves to the exit code. */
async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return EXIT.ok;
  } catch (err) {
    // Commander has already printed its message (and the hint); help and --version exit 0.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n(add --help for usage)\n`);
      return EXIT.usage;
    }
    if (err instanceof CliError) {
      const status = err.status === undefined ? "" : ` (HTTP ${err.status}${err.code ? ` ${err.code}` : ""})`;
      process.stderr.write(`error: ${err.message}${status}\n`);
      // One detail repeats the message; several are listed.
      if (err.details.length > 1) for (const d of err.details) process.stderr.write(`  ${d.field}: ${d.message}\n`);
      return EXIT.failed;
    }
    process.stderr.write(`error: ${(err as Error).stack ?? err}\n`);
    return EXIT.failed;
  }
}

process.exitCode = await main(process.argv.slice(2));
