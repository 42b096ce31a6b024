import { documentClient, DynamoDeliveryLog } from "#adapters/dynamodb.ts";
import { TestReceiver } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

/**
 * The local event source, the bench and the tests run several deliver invocations at once in one
 * process (Lambda runs one per container). Each invocation's failure list must be its own: a failed
 * delivery whose message was deleted instead of retried stays `pending` forever. The endpoint here
 * fails each delivery's first attempt, after delays spread over a second so that one poller's
 * failures land while another poller's batch starts, and accepts the second: every delivery must
 * end `succeeded` after exactly two attempts.
 */
describe("overlapping failing batches", () => {
  let stack: TestStack;
  // One endpoint per webhook, each failing every event's first attempt after a spread-out delay.
  const seen = new Map<string, number>();
  const receivers = Array.from(
    { length: 4 },
    (_, h) =>
      new TestReceiver((i, req) => {
        const key = `${h} ${req.headers["webhook-id"]}`;
        const n = (seen.get(key) ?? 0) + 1;
        seen.set(key, n);
        return n === 1 ? { kind: "delay", ms: 50 + ((i * 97 + h * 211) % 900), status: 500 } : { kind: "status", status: 200 };
      }),
  );

  beforeAll(async () => {
    await Promise.all(receivers.map((r) => r.start()));
    // Every first attempt fails on purpose: the circuit breaker must not open (it is tested in endpoint-health.test.ts).
    stack = await startTestStack({ workerConcurrency: 4, schedule: "1s", health: { breakerThreshold: 1_000 } });
  });

  afterAll(async () => {
    await stack?.stop();
    await Promise.all(receivers.map((r) => r.stop()));
  });

  test("60 deliveries to 4 webhooks over 4 concurrent pollers: each failed once, was retried, and ended succeeded", async () => {
    const tenant = "acct_overlap";
    // Four webhooks: four message groups of the fair queue, so that the pollers' batches overlap.
    const hooks: { id: string; secret: string }[] = [];
    for (let h = 0; h < 4; h++) hooks.push(await stack.createWebhook(tenant, receivers[h].url, ["record.created"]));
    const events = Array.from({ length: 15 }, (_, i) => ({ id: `evt_overlap_${i}`, type: "record.created", tenantId: tenant, data: { recordId: `rec_${i}` } }));
    const published = await stack.api("POST", "/events", { events });
    expect([published.status, published.body.deliveries]).toEqual([202, 60]);

    // Every delivery's final state, by webhook: waited for with one deadline, then counted.
    const finalStates = async () => {
      const states: Record<string, Record<string, number>> = {};
      for (const hook of hooks) {
        const { items } = (await stack.api("GET", `/tenants/${tenant}/webhooks/${hook.id}/deliveries?limit=100`)).body;
        states[hook.id] = {};
        for (const d of items) states[hook.id][`${d.status}/${d.attemptCount}`] = (states[hook.id][`${d.status}/${d.attemptCount}`] ?? 0) + 1;
      }
      return states;
    };
    const expected = Object.fromEntries(hooks.map((h) => [h.id, { "succeeded/2": 15 }]));
    let states = await finalStates();
    for (const deadline = Date.now() + 30_000; JSON.stringify(states) !== JSON.stringify(expected) && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 200));
      states = await finalStates();
    }
    expect(states).toEqual(expected);
    // Each endpoint saw each event exactly twice: the failed first attempt and the retry.
    expect(seen.size).toBe(60);
    expect([...seen.values()].every((n) => n === 2)).toBe(true);
    for (const r of receivers) expect(r.requests).toHaveLength(30);
  }, 60_000);
});

describe("two copies of one delivery in one batch (DynamoDB refuses a batch request naming a key twice)", () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack({ worker: false });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  test("the delivery log reads and writes each key once, instead of failing the whole invocation", async () => {
    const log = new DynamoDeliveryLog(documentClient(stack.stack.config.dynamodb), stack.stack.config.tables.deliveries);
    const message = {
      v: 1 as const,
      deliveryId: "dlv_01M8SXP49A51F0K9FH2WMA3ZZD",
      tenantId: "acct_copies",
      webhookId: "wh_01M8SXP49A51F0K9FH2WMA3ZZD",
      eventId: "evt_1",
      eventType: "record.created",
      payload: "{}",
    };
    const write = (n: number) => ({
      message,
      status: "succeeded" as const,
      roundStart: 0,
      nowIso: new Date().toISOString(),
      attempt: { n: 1, at: new Date().toISOString(), statusCode: 200, durationMs: n },
    });
    await log.createMany([write(1), write(2)]);
    const key = { tenantId: message.tenantId, webhookId: message.webhookId, id: message.deliveryId };
    const records = await log.getMany([key, key]);
    expect(records.map((r) => [r.id, r.attemptCount, r.attempts[0].durationMs])).toEqual([[message.deliveryId, 1, 2]]);
  });
});
