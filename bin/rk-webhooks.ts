/**
 * `rk-webhooks`: the operator CLI (docs/cli.md). Creates, changes, pauses and deletes webhooks and
 * shows their health, publishes events, lists webhooks and deliveries, shows attempts, replays,
 * sends test events, shows the queues' depths, watches and redrives the DLQ, follows attempts live,
 * and runs a local staging endpoint that verifies signatures. It runs on the client (client/). It
 * talks to the local stack (`npm start`; URL and token from `<state dir>/local-stack.json`) or to a
 * deployed stack (`--stack NAME`; URL from the stack's outputs, requests SigV4-signed with the
 * default AWS credentials).
 *
 * Exit codes: 0 ok, 1 the API or the network failed (the API's message on stderr), 2 usage error.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { DELIVERY_STATUSES, type DeliveryStatus } from "#core/model.ts";
import { parseDuration } from "#core/retry.ts";
import { HEALTH } from "#core/settings.ts";
import { version } from "#core/version.ts";
import { WebhooksError } from "../client/index.ts";
import { CliError, EXIT, UsageError } from "./cli/errors.ts";
import {
  deliveriesCommand,
  dlqCommand,
  list,
  publishCommand,
  queuesCommand,
  redriveCommand,
  replayCommand,
  sendTestCommand,
  showCommand,
  webhooksCommand,
  webhooksCreateCommand,
  webhooksDeleteCommand,
  webhooksEnableCommand,
  webhooksPauseCommand,
  webhooksRotateCommand,
  webhooksShowCommand,
  webhooksUpdateCommand,
  type Ctx,
} from "./cli/commands.ts";
import { inspectCommand } from "./cli/inspect.ts";
import { tailCommand } from "./cli/tail.ts";
import { connect, type TargetOptions } from "./cli/target.ts";

const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (value: string) => {
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

/** A duration option: `--timeout 10m`; its default shown with its unit in --help. */
const duration = (flags: string, description: string, defaultSeconds?: number, shown?: string) => {
  // A default left to the API (undefined here) is still shown, with its unit.
  const apiDefault = defaultSeconds === undefined && shown ? ` (default: ${shown})` : "";
  const option = new Option(flags, `${description} (a duration: 500ms, 30s, 10m, 2h, 7d)${apiDefault}`).argParser(seconds);
  return defaultSeconds === undefined ? option : option.default(defaultSeconds, shown);
};

const patterns = (value: string) => {
  const items = list(value);
  if (items.length === 0) throw new InvalidArgumentError("give one or more event types or patterns, comma-separated (record.*,file.ingested)");
  return items;
};

/** Deliveries per second (1–1,000, as the API takes it). */
const rateLimit = integer(HEALTH.rateLimitMin, HEALTH.rateLimitMax);
/** `--rate-limit none` removes the limit (kept as "none": commander turns a parser's null into ""). */
const rateLimitOrNone = (value: string): number | "none" => (value === "none" ? value : rateLimit(value));

const statusOption = (description: string) => new Option("--status <status>", description).choices(DELIVERY_STATUSES as DeliveryStatus[]);

/** The global options of the command being run, once it runs. */
let target: TargetOptions | undefined;

function buildProgram(): Command {
  const program = new Command("rk-webhooks");
  program
    .description(
      "Operate RecordsKeeper.AI webhooks: create, change and pause webhooks, their health, publish events, deliveries, replay, queue depths, DLQ redrive, live tail, a signature-checking staging endpoint.",
    )
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
  /** The target of the command being run (for the hints of errors). */
  const ctx = (cmd: Command): Ctx => {
    const g = cmd.optsWithGlobals<TargetOptions & { json?: boolean }>();
    target = g;
    return {
      json: g.json === true,
      client: () => connect(g),
      print: (text) => process.stdout.write(`${text}\n`),
      note: (text) => process.stderr.write(`${text}\n`),
    };
  };
  const tenant = "--tenant <tenantId>";
  const webhook = "--webhook <webhookId>";
  const webhookArg = ["<webhookId>", "the webhook (wh_…)"] as const;

  const webhooks = program.command("webhooks").description("list, show, create, change, pause and delete a tenant's webhooks");
  webhooks
    .command("list", { isDefault: true })
    .description("list a tenant's webhooks (the default: `webhooks --tenant T`)")
    .requiredOption(tenant, "the tenant (RecordsKeeper.AI account id)")
    .action((o, cmd) => webhooksCommand(ctx(cmd), o));
  webhooks
    .command("create")
    .description("create a webhook; prints `export WEBHOOK=… SECRET=…` for the shell (the secret is shown only now)")
    .requiredOption(tenant, "the tenant")
    .requiredOption("--url <url>", "the endpoint (https and public on AWS; http and loopback allowed on the local stack)")
    .addOption(
      new Option("--event-types <patterns>", "comma-separated types or patterns: record.created,file.*").argParser(patterns).default(["*"], "*, every type"),
    )
    .option("--description <text>", "a note for people")
    .option("--disabled", "create it disabled")
    .option("--paused", "create it paused: its deliveries are kept (parked) until `webhooks resume`")
    .option("--rate-limit <perSecond>", `at most this many deliveries per second (${HEALTH.rateLimitMin}–${HEALTH.rateLimitMax}; default: no limit)`, rateLimit)
    .action((o, cmd) => webhooksCreateCommand(ctx(cmd), o));
  webhooks
    .command("show")
    .description("one webhook with its health: circuit (closed, open, half-open), failed attempts in a row, parked deliveries, next probe; paused, rate limit")
    .argument(...webhookArg)
    .requiredOption(tenant, "the tenant")
    .action((id, o, cmd) => webhooksShowCommand(ctx(cmd), id, o));
  webhooks
    .command("update")
    .description("change a webhook's url, event types or description")
    .argument(...webhookArg)
    .requiredOption(tenant, "the tenant")
    .option("--url <url>", "the new endpoint")
    .option("--event-types <patterns>", "the new comma-separated types or patterns", patterns)
    .option("--description <text>", "the new description ('' clears it)")
    .option(
      "--rate-limit <perSecond>",
      `at most this many deliveries per second (${HEALTH.rateLimitMin}–${HEALTH.rateLimitMax}); none removes the limit`,
      rateLimitOrNone,
    )
    .action((id, o, cmd) => webhooksUpdateCommand(ctx(cmd), id, o));
  webhooks
    .command("disable")
    .description("stop delivering to a webhook (events published meanwhile are not delivered to it)")
    .argument(...webhookArg)
    .requiredOption(tenant, "the tenant")
    .action((id, o, cmd) => webhooksEnableCommand(ctx(cmd), id, { tenant: o.tenant, enabled: false }));
  webhooks
    .command("enable")
    .description("deliver to a disabled webhook again")
    .argument(...webhookArg)
    .requiredOption(tenant, "the tenant")
    .action((id, o, cmd) => webhooksEnableCommand(ctx(cmd), id, { tenant: o.tenant, enabled: true }));
  webhooks
    .command("pause")
    .description("pause a webhook: its deliveries are kept (parked), not sent and not skipped, until it is resumed")
    .argument(...webhookArg)
    .requiredOption(tenant, "the tenant")
    .action((id, o, cmd) => webhooksPauseCommand(ctx(cmd), id, { tenant: o.tenant, paused: true }));
  webhooks
    .command("resume")
    .description("resume a paused webhook: its parked deliveries are released, oldest first, at the release rate")
    .argument(...webhookArg)
    .requiredOption(tenant, "the tenant")
    .action((id, o, cmd) => webhooksPauseCommand(ctx(cmd), id, { tenant: o.tenant, paused: false }));
  webhooks
    .command("delete")
    .description("delete a webhook (its delivery log expires with it)")
    .argument(...webhookArg)
    .requiredOption(tenant, "the tenant")
    .action((id, o, cmd) => webhooksDeleteCommand(ctx(cmd), id, o));
  webhooks
    .command("rotate-secret")
    .description("a new signing secret; prints `export SECRET=…`. The previous one keeps signing during the grace period")
    .argument(...webhookArg)
    .requiredOption(tenant, "the tenant")
    .addOption(duration("--grace <duration>", "how long the previous secret keeps signing, at most 7d; 0 stops it now", undefined, "24h"))
    .action((id, o, cmd) => webhooksRotateCommand(ctx(cmd), id, { tenant: o.tenant, graceSeconds: o.grace }));

  program
    .command("publish")
    .description("publish an event, as the core app does (to every matching webhook of the tenant)")
    .requiredOption(
      "--type <eventType>",
      "the event type: record.created, record.updated, file.ingested, sync.completed, ai.insight.generated (GET /event-types)",
    )
    .requiredOption(tenant, "the tenant")
    .requiredOption("--data <json>", "the event's data: a JSON object, or @file.json (@- reads standard input)")
    .option("--id <eventId>", "the idempotency key (default: a new evt_…)")
    .option("--occurred-at <time>", "when it happened, ISO 8601 (default: now)")
    .action((o, cmd) => publishCommand(ctx(cmd), o));

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
    .option(webhook, "the webhook the delivery belongs to (default: found among the tenant's webhooks)")
    .action((id, o, cmd) => showCommand(ctx(cmd), id, o));

  program
    .command("replay")
    .description("send a past delivery again (same webhook-id), or every delivery of a webhook in a time range")
    .argument("[deliveryId]", "the delivery to replay (dlv_…); omit it and give --since to replay many")
    .requiredOption(tenant, "the tenant")
    .requiredOption(webhook, "the webhook")
    .option("--since <time>", "replay deliveries created since this ISO 8601 time, or this long ago (30m, 2h, 7d)")
    .option("--until <time>", "… and until this time or this long ago (default: now)")
    .addOption(statusOption("… with this status (default: failed)"))
    .action((id, o, cmd) => replayCommand(ctx(cmd), id, o));

  program
    .command("send-test")
    .description("send the catalogue's example event to a webhook now")
    .requiredOption(tenant, "the tenant")
    .requiredOption(webhook, "the webhook")
    .option("--type <eventType>", "the event type (default: the first one the webhook subscribes to)")
    .action((o, cmd) => sendTestCommand(ctx(cmd), o));

  program
    .command("dlq")
    .description("the dead-letter queue's depth")
    .action((_o, cmd) => dlqCommand(ctx(cmd)));

  program
    .command("queues")
    .description("the delivery queue's and the DLQ's depths: waiting, in flight, delayed (approximate, from SQS)")
    .action((_o, cmd) => queuesCommand(ctx(cmd)));

  program
    .command("redrive")
    .description("move every DLQ message back to the delivery queue; each starts a fresh retry schedule")
    .addOption(duration("--timeout <duration>", "on AWS, follow the move task this long", 600, "10m"))
    .addOption(duration("--interval <duration>", "on AWS, check the DLQ's depth this often", 2, "2s"))
    .action((o, cmd) => redriveCommand(ctx(cmd), { timeoutSeconds: o.timeout, intervalMs: o.interval * 1000 }));

  program
    .command("tail")
    .description("follow new delivery attempts live, one line each (JSON lines with --json)")
    .requiredOption(tenant, "the tenant")
    .option(webhook, "only this webhook (default: every webhook of the tenant)")
    .addOption(duration("--for <duration>", "stop after this long (default: until Ctrl-C)"))
    .addOption(duration("--interval <duration>", "poll this often", 1, "1s"))
    .action((o, cmd) => tailCommand(ctx(cmd), { tenant: o.tenant, webhook: o.webhook, forSeconds: o.for, intervalMs: o.interval * 1000 }));

  program
    .command("inspect")
    .description("a local staging endpoint: receives webhooks, verifies their signatures, prints headers and body (JSON lines with --json)")
    .option("--port <port>", "listen on this port (0: a free one)", integer(0, 65_535), 4000)
    .option("--host <host>", "listen on this address (0.0.0.0 or :: for every interface, e.g. in a container)", "127.0.0.1")
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
    if (err instanceof CliError || err instanceof WebhooksError) {
      const status = err.status === undefined ? "" : ` (HTTP ${err.status}${err.code ? ` ${err.code}` : ""})`;
      process.stderr.write(`error: ${err.message}${status}\n`);
      // One detail repeats the message; several are listed.
      if (err.details.length > 1) for (const d of err.details) process.stderr.write(`  ${d.field}: ${d.message}\n`);
      if (err instanceof WebhooksError && err.code === "network_error" && target?.stack === undefined) {
        process.stderr.write("is `npm start` running? (its state dir: --state-dir or $WEBHOOKS_STATE_DIR, default .local)\n");
      }
      return EXIT.failed;
    }
    process.stderr.write(`error: ${(err as Error).stack ?? err}\n`);
    return EXIT.failed;
  }
}

process.exitCode = await main(process.argv.slice(2));
