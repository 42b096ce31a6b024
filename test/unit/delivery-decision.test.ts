/**
 * The pure half of the delivery decision (lambdas/core/delivery-decision.ts): the hand check of a
 * queue body against the zod schema it replaced (the deliver λ loads no zod), and the numbers its
 * comments and docs/delivery-semantics.md state.
 */
import { z } from "zod";
import { acceptedAt, bookkeepingDelay, checkCopy, heldSince, isFresh, readMessage } from "#core/delivery-decision.ts";
import type { DeliveryMessage, DeliveryRecord } from "#core/model.ts";
import { QUEUE, RECOVERY_DELAY_SECONDS } from "#core/settings.ts";
import { newDeliveryId } from "#core/ids.ts";

/** The schema delivery.ts validated bodies with until the hand check: the reference for what is refused and kept. */
const zodSchema = z.object({
  v: z.literal(1),
  deliveryId: z.string().min(1),
  tenantId: z.string().min(1),
  webhookId: z.string().min(1),
  eventId: z.string().min(1),
  eventType: z.string().min(1),
  payload: z.string(),
  recovery: z.literal(true).optional(),
  deadLetteredAt: z.string().optional(),
  replayOf: z.string().optional(),
  released: z.literal(true).optional(),
  probe: z.literal(true).optional(),
  forwarded: z.literal(true).optional(),
});

const byZod = (body: string) => {
  try {
    const r = zodSchema.safeParse(JSON.parse(body));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
};

const valid = {
  v: 1,
  deliveryId: "dlv_01JABCDEFGHJKMNPQRSTVWXYZ0",
  tenantId: "acct_1",
  webhookId: "wh_1",
  eventId: "evt_1",
  eventType: "record.created",
  payload: '{"id":"evt_1"}',
};

describe("readMessage: the hand check of a delivery message", () => {
  const optional = ["recovery", "deadLetteredAt", "replayOf", "released", "probe", "forwarded"] as const;
  const values: unknown[] = [undefined, null, true, false, 0, 1, 2, "", "x", "2026-01-01T00:00:00.000Z", [], {}, 1.5];
  const bodies: string[] = [
    "",
    "not json",
    "null",
    "1",
    '"a string"',
    "[]",
    "[1]",
    "{}",
    JSON.stringify(valid),
    JSON.stringify({ ...valid, extra: "dropped", nested: { a: 1 } }),
    JSON.stringify({ payload: valid.payload, eventType: valid.eventType, eventId: "e", webhookId: "w", tenantId: "t", deliveryId: "d", v: 1 }),
    JSON.stringify(valid).replace('"v":1', '"v":1.0'),
    `{"__proto__":{"recovery":true},${JSON.stringify(valid).slice(1)}`,
  ];
  for (const key of Object.keys(valid)) {
    for (const x of values) bodies.push(JSON.stringify({ ...valid, [key]: x }));
    const { [key as keyof typeof valid]: _gone, ...rest } = valid;
    bodies.push(JSON.stringify(rest));
  }
  for (const key of optional) for (const x of values) bodies.push(JSON.stringify({ ...valid, [key]: x }));
  bodies.push(
    JSON.stringify({ ...valid, recovery: true, deadLetteredAt: "2026-01-01T00:00:00.000Z", replayOf: "dlv_0", released: true, probe: true, forwarded: true }),
  );

  test(`accepts and refuses exactly what the zod schema did, and keeps the same fields in the same order (${bodies.length} bodies)`, () => {
    let accepted = 0;
    for (const body of bodies) {
      const expected = byZod(body);
      const got = readMessage(body);
      expect({ body, got: got === undefined ? undefined : JSON.stringify(got) }).toEqual({
        body,
        got: expected === undefined ? undefined : JSON.stringify(expected),
      });
      if (got) accepted++;
    }
    // Both outcomes are exercised: a check that refused (or accepted) everything would not pass.
    expect(accepted).toBeGreaterThan(10);
    expect(bodies.length - accepted).toBeGreaterThan(50);
  });

  test("a message carries no key for an optional field it lacks (a key with undefined would still be a key of the object sent on)", () => {
    expect(Object.keys(readMessage(JSON.stringify(valid))!)).toEqual(Object.keys(valid));
    const full = { ...valid, recovery: true, deadLetteredAt: "d", replayOf: "dlv_0", released: true, probe: true, forwarded: true };
    expect(Object.keys(readMessage(JSON.stringify(full))!)).toEqual(Object.keys(full));
  });
});

describe("bookkeepingDelay", () => {
  test("waits 1, 2, 4, 8, then 15 minutes (SQS's longest delay) by receive count, as docs/delivery-semantics.md says", () => {
    expect([undefined, 1, 2, 3, 4, 5, 6, 50].map((n) => bookkeepingDelay(n))).toEqual([60, 60, 120, 240, 480, 900, 900, 900]);
    expect(QUEUE.maxDelaySeconds).toBe(900);
  });
});

describe("isFresh: which first receives skip the record read", () => {
  const at = Date.UTC(2026, 0, 1);
  const message: DeliveryMessage = { ...valid, v: 1, deliveryId: newDeliveryId(at) };

  test("a plain first receive within the recovery delay, less 10 s for the two λs' clocks, is fresh; later, or sent again, it is not", () => {
    const edge = at + (RECOVERY_DELAY_SECONDS - 10) * 1000;
    expect(isFresh(message, 1, edge - 1, RECOVERY_DELAY_SECONDS)).toBe(true);
    expect(isFresh(message, 1, edge, RECOVERY_DELAY_SECONDS)).toBe(false);
    expect(isFresh(message, 2, at, RECOVERY_DELAY_SECONDS)).toBe(false);
    expect(isFresh(message, undefined, at, RECOVERY_DELAY_SECONDS)).toBe(false);
    for (const mark of [
      { recovery: true },
      { released: true },
      { probe: true },
      { forwarded: true },
      { deadLetteredAt: "2026-01-01T00:00:00.000Z" },
    ] as const) {
      expect(isFresh({ ...message, ...mark }, 1, at, RECOVERY_DELAY_SECONDS)).toBe(false);
    }
  });
});

describe("acceptedAt and heldSince: a held delivery is due since its acceptance", () => {
  const at = Date.UTC(2026, 0, 1);
  const message: DeliveryMessage = { ...valid, v: 1, deliveryId: newDeliveryId(at) };

  test("the acceptance is the time of the delivery id; an unreadable id counts as long ago (0)", () => {
    expect(acceptedAt(message)).toBe(at);
    expect(acceptedAt({ ...message, deliveryId: "dlv_not-a-ulid" })).toBe(0);
    expect(heldSince({ ...message, deliveryId: "dlv_not-a-ulid" }, at)).toBe(0);
  });

  test("held since the acceptance, or since now when the id's clock (ingest's) runs ahead of this one", () => {
    expect(heldSince(message, at + 60_000)).toBe(at);
    expect(heldSince(message, at - 5_000)).toBe(at - 5_000);
  });
});

describe("checkCopy", () => {
  const message = { ...valid, v: 1 } as DeliveryMessage;
  const record = (r: Partial<DeliveryRecord>): DeliveryRecord => ({
    tenantId: "acct_1",
    webhookId: "wh_1",
    id: valid.deliveryId,
    eventId: "evt_1",
    eventType: "record.created",
    status: "pending",
    attemptCount: 1,
    attempts: [],
    roundStart: 0,
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    ...r,
  });
  const now = Date.parse("2026-01-01T00:01:00.000Z");

  test("each copy the record makes moot is dropped with its reason; a live one keeps its round", () => {
    expect(checkCopy(message, undefined, now)).toEqual({ round: undefined, roundStart: 0, redriven: false });
    expect(checkCopy({ ...message, recovery: true }, record({}), now)).toEqual({ kind: "dropped", reason: "duplicate from an ingest retry dropped" });
    expect(checkCopy({ ...message, deadLetteredAt: "x" }, record({}), now)).toEqual({ kind: "dropped", reason: "stale copy of a delivery dropped" });
    expect(checkCopy(message, record({ status: "succeeded" }), now)).toEqual({ kind: "dropped", reason: "delivery already succeeded; copy dropped" });
    expect(checkCopy(message, record({ parked: true }), now)).toEqual({ kind: "dropped", reason: "delivery is parked; copy dropped" });
    expect(checkCopy({ ...message, released: true }, record({ parked: true, round: "r", roundStart: 3 }), now)).toEqual({
      kind: "dropped",
      reason: "stale copy of a delivery dropped",
    });
    expect(checkCopy({ ...message, released: true, deadLetteredAt: "r" }, record({ parked: true, round: "r", roundStart: 3 }), now)).toEqual({
      round: "r",
      roundStart: 3,
      redriven: false,
    });
  });

  test("a redriven copy of a failed, dead-lettered delivery starts a round at its attempt count", () => {
    const failed = record({ status: "failed", deadLetteredAt: "d1", attemptCount: 13 });
    expect(checkCopy({ ...message, deadLetteredAt: "d1" }, failed, now)).toEqual({ round: "d1", roundStart: 13, redriven: true });
    expect(checkCopy({ ...message, deadLetteredAt: "d0" }, failed, now)).toEqual({ kind: "dropped", reason: "stale copy of a delivery dropped" });
  });

  test("a plain copy of a delivery failed without the DLQ (a 410, an auto-disable) is dropped, not redriven", () => {
    expect(checkCopy(message, record({ status: "failed" }), now)).toEqual({ kind: "dropped", reason: "delivery already failed; copy dropped" });
  });

  test("a copy of a redriven round still pending keeps the round's start: it is not redriven a second time", () => {
    const redriven = record({ status: "pending", deadLetteredAt: "d1", round: "d1", roundStart: 13, attemptCount: 14 });
    expect(checkCopy({ ...message, deadLetteredAt: "d1" }, redriven, now)).toEqual({ round: "d1", roundStart: 13, redriven: false });
  });

  test("a copy back before its next attempt waits the rest (more than a second of it); a released or probe copy does not", () => {
    const pending = record({ nextAttemptAt: new Date(now + 120_500).toISOString() });
    expect(checkCopy(message, pending, now)).toEqual({ kind: "wait", delaySeconds: 121, why: "not due" });
    expect(checkCopy({ ...message, probe: true }, pending, now)).toMatchObject({ redriven: false });
    expect(checkCopy(message, record({ nextAttemptAt: new Date(now + 1_000).toISOString() }), now)).toMatchObject({ redriven: false });
  });
});
