import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { TestReceiver } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

/**
 * Idempotency under concurrency (design §3): one event id, one delivery per webhook, whoever races.
 * Each round fires at once: a batch that holds four new events and one that conflicts with an event
 * accepted earlier (so it is refused, 409, and must take back what it stored), a valid batch of the
 * same four events, and two plain publishes of each of the four. Every 2xx must be true (its event
 * delivered, exactly once), no call may answer 500, and each event must have exactly one delivery.
 */
const TENANT = "acct_race";
const ROUNDS = 12;

let stack: TestStack;
const receiver = new TestReceiver();
let hook: { id: string; secret: string };

beforeAll(async () => {
  await receiver.start();
  // Recovery copies (sent by the calls that found the event already there) wait 3 s: the first copy
  // is attempted before them, so that the counts below are exact, not "at least once".
  stack = await startTestStack({ recoveryDelaySeconds: 3, workerConcurrency: 4 });
  hook = await stack.createWebhook(TENANT, receiver.url, ["record.created"]);
});

afterAll(async () => {
  await stack?.stop();
  await receiver.stop();
});

const event = (id: string, recordId: string) => ({ id, type: "record.created", tenantId: TENANT, data: { recordId } });

/** Waits until the delivery queue holds nothing: no visible, in-flight or delayed message. */
async function drained(timeoutMs = 30_000): Promise<void> {
  const sqs = new SQSClient(stack.stack.config.sqs!);
  try {
    for (const deadline = Date.now() + timeoutMs; ; ) {
      const { Attributes: a = {} } = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: stack.stack.config.queue.queueUrl,
          AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
        }),
      );
      const left = Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible) + Number(a.ApproximateNumberOfMessagesDelayed);
      if (left === 0) return;
      if (Date.now() > deadline) throw new Error(`queue not drained: ${JSON.stringify(a)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    sqs.destroy();
  }
}

test(`${ROUNDS} rounds of a refused batch racing a valid batch and plain publishes of the same ids`, async () => {
  expect((await stack.api("POST", "/events", event("evt_base", "rec_original"))).status).toBe(202);

  const answers: { call: string; status: number; body: any }[] = [];
  const call = async (name: string, body: unknown) => answers.push({ call: name, ...(await stack.api("POST", "/events", body)) });
  const ids: string[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const round = Array.from({ length: 4 }, (_, k) => event(`evt_race_${r}_${k}`, `rec_${r}_${k}`));
    ids.push(...round.map((e) => e.id));
    await Promise.all([
      call("refused batch", { events: [...round, event("evt_base", "rec_changed")] }),
      call("valid batch", { events: round }),
      ...round.flatMap((e) => [call("plain", e), call("plain", e)]),
    ]);
  }

  // The answers: the conflicting batch refused every time, everything else accepted, nothing 500.
  const summary = (name: string) => answers.filter((a) => a.call === name).map((a) => `${a.status} ${a.body?.error?.code ?? ""}`.trim());
  expect(summary("refused batch")).toEqual(Array(ROUNDS).fill("409 idempotency_conflict"));
  expect(summary("valid batch")).toEqual(Array(ROUNDS).fill("202"));
  expect(summary("plain")).toEqual(Array(ROUNDS * 8).fill("202"));
  for (const a of answers.filter((x) => x.call === "plain")) expect(a.body.deliveries).toBe(1);
  for (const a of answers.filter((x) => x.call === "valid batch")) expect(a.body.events.map((e: { deliveries: number }) => e.deliveries)).toEqual([1, 1, 1, 1]);

  // Every event delivered exactly once, under exactly one delivery id; the conflicting content never.
  await stack.waitForDeliveries(TENANT, hook.id, (items) => items.length >= ids.length + 1 && items.every((d) => d.status === "succeeded"), 30_000);
  await drained();
  const log = (await stack.api("GET", `/tenants/${TENANT}/webhooks/${hook.id}/deliveries?limit=100`)).body.items as { eventId: string }[];
  const perEventInLog = new Map<string, number>();
  for (const d of log) perEventInLog.set(d.eventId, (perEventInLog.get(d.eventId) ?? 0) + 1);
  expect(Object.fromEntries(perEventInLog)).toEqual(Object.fromEntries([...ids, "evt_base"].map((id) => [id, 1])));
  const perEventReceived = new Map<string, number>();
  for (const r of receiver.requests) perEventReceived.set(String(r.headers["webhook-id"]), (perEventReceived.get(String(r.headers["webhook-id"])) ?? 0) + 1);
  expect(Object.fromEntries(perEventReceived)).toEqual(Object.fromEntries([...ids, "evt_base"].map((id) => [id, 1])));
  expect(JSON.parse(receiver.requests.find((r) => r.headers["webhook-id"] === "evt_base")!.body).data).toEqual({ recordId: "rec_original" });
}, 90_000);
