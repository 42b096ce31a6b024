import { Webhook } from "standardwebhooks";
import type { Received } from "../support/receiver.ts";
import { TestReceiver } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

/**
 * Every valid JSON event is delivered with its data exactly as accepted (docs/delivery-semantics.md): characters
 * SQS refuses in a message body (U+FFFE, U+FFFF, and astral ones such as emoji, which the emulator
 * refuses too), escapes of lone surrogates, and a `__proto__` key, which a plain object copy drops.
 * Each event is sent as raw JSON text; the endpoint must receive a body whose `data` is that very
 * text, byte for byte, with a signature the independent `standardwebhooks` library verifies.
 */
const TENANT = "acct_exact";
const OCCURRED = "2026-11-26T10:00:00.000Z";

/** The data of each event, as the JSON text the producer sends (compact, as the payload writes it). */
const CASES: [string, string][] = [
  ["U+FFFF and U+FFFE", '{"recordId":"rec_ffff","title":"non-characters \uFFFF and \uFFFE"}'],
  ["emoji and other astral characters", '{"recordId":"rec_emoji","title":"ship it 🚀😀 𝄞"}'],
  ["an escaped lone surrogate", '{"recordId":"rec_lone","title":"half a pair: \\ud800 and \\udfff"}'],
  ["U+2028, U+FFFD, accents and CJK", '{"recordId":"rec_mixed","title":"a\u2028b \uFFFD é 漢字"}'],
  ["a __proto__ key", '{"recordId":"rec_proto","__proto__":{"polluted":true},"nested":{"__proto__":[1,2]}}'],
  ["a constructor key", '{"recordId":"rec_ctor","constructor":{"prototype":{"x":1}}}'],
  ["nesting 64 levels deep, the most allowed", `{"recordId":"rec_deep","deep":${"[".repeat(63)}${"]".repeat(63)}}`],
];

const eventText = (id: string, data: string) => `{"id":"${id}","type":"record.created","tenantId":"${TENANT}","occurredAt":"${OCCURRED}","data":${data}}`;
const payloadText = (id: string, data: string) => `{"id":"${id}","type":"record.created","timestamp":"${OCCURRED}","tenantId":"${TENANT}","data":${data}}`;

let stack: TestStack;
const receiver = new TestReceiver();
let hook: { id: string; secret: string };

beforeAll(async () => {
  await receiver.start();
  stack = await startTestStack();
  hook = await stack.createWebhook(TENANT, receiver.url, ["record.created"]);
});

afterAll(async () => {
  await stack?.stop();
  await receiver.stop();
});

function verified(r: Received): unknown {
  return new Webhook(hook.secret).verify(r.body, {
    "webhook-id": String(r.headers["webhook-id"]),
    "webhook-timestamp": String(r.headers["webhook-timestamp"]),
    "webhook-signature": String(r.headers["webhook-signature"]),
  });
}

test("each event is accepted (202), delivered once, byte for byte, and its signature verifies", async () => {
  const answers = [];
  for (const [i, [, data]] of CASES.entries()) answers.push(await stack.api("POST", "/events", eventText(`evt_exact_${i}`, data)));
  expect(answers.map((a) => [a.status, a.body])).toEqual(CASES.map((_, i) => [202, { id: `evt_exact_${i}`, deliveries: 1 }]));

  // One batch with all of them again, under new ids: accepted whole, delivered whole.
  const batch = `{"events":[${CASES.map(([, data], i) => eventText(`evt_exact_b${i}`, data)).join(",")}]}`;
  const batchAnswer = await stack.api("POST", "/events", batch);
  expect([batchAnswer.status, batchAnswer.body.deliveries]).toEqual([202, CASES.length]);

  await stack.waitForDeliveries(TENANT, hook.id, (items) => items.length === 2 * CASES.length && items.every((d) => d.status === "succeeded"));
  expect(receiver.requests).toHaveLength(2 * CASES.length);
  const byId = new Map(receiver.requests.map((r) => [String(r.headers["webhook-id"]), r]));
  for (const [i, [name, data]] of CASES.entries()) {
    for (const id of [`evt_exact_${i}`, `evt_exact_b${i}`]) {
      const r = byId.get(id)!;
      expect([name, Buffer.from(r.body, "utf8").equals(Buffer.from(payloadText(id, data), "utf8"))]).toEqual([name, true]);
      expect([name, r.body]).toEqual([name, payloadText(id, data)]);
      expect(verified(r)).toEqual(JSON.parse(payloadText(id, data)));
    }
  }
  // The __proto__ key arrived as data, not as a prototype.
  const proto = JSON.parse(byId.get("evt_exact_4")!.body).data;
  expect(Object.hasOwn(proto, "__proto__")).toBe(true);
  expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
});

test("the same id published again with the same data is the same event (idempotent), not a conflict", async () => {
  const again = await stack.api("POST", "/events", eventText("evt_exact_1", CASES[1][1]));
  expect([again.status, again.body]).toEqual([202, { id: "evt_exact_1", deliveries: 1 }]);
  const proto = await stack.api("POST", "/events", eventText("evt_exact_4", CASES[4][1]));
  expect([proto.status, proto.body]).toEqual([202, { id: "evt_exact_4", deliveries: 1 }]);
  // …while the same id with the __proto__ key's content changed is a conflict: the key is part of the data.
  const changed = await stack.api("POST", "/events", eventText("evt_exact_4", CASES[4][1].replace("true", "false")));
  expect([changed.status, changed.body.error.code]).toEqual([409, "idempotency_conflict"]);
});
