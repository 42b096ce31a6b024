import { sendBatches, sqsMessageBody } from "#adapters/sqs.ts";
import { messagesOf } from "#core/ingest.ts";
import type { StoredEvent } from "#core/model.ts";
import { INGEST, MAX_MESSAGE_BYTES } from "#core/settings.ts";

/** SendMessageBatch limits: at most 10 entries, at most 1 MiB of bodies per request. */
const entry = (bytes: number) => ({ Id: "", MessageBody: "x".repeat(bytes) });

test("small messages go ten to a batch, each batch's ids numbered from 0", () => {
  const batches = sendBatches(Array.from({ length: 25 }, () => entry(100)));
  expect(batches.map((b) => b.length)).toEqual([10, 10, 5]);
  expect(batches[2].map((e) => e.Id)).toEqual(["0", "1", "2", "3", "4"]);
});

test("large messages are split so that no batch exceeds 1 MiB", () => {
  const batches = sendBatches(Array.from({ length: 12 }, () => entry(200 * 1_024)));
  expect(batches.map((b) => b.length)).toEqual([5, 5, 2]);
  for (const b of batches) expect(b.reduce((n, e) => n + (e.MessageBody ?? "").length, 0)).toBeLessThanOrEqual(1_048_576);
});

test("a message of exactly 1 MiB travels alone", () => {
  const batches = sendBatches([entry(10), entry(1_048_576), entry(10)]);
  expect(batches.map((b) => b.length)).toEqual([1, 1, 1]);
});

test("nothing to send, no batch", () => {
  expect(sendBatches([])).toEqual([]);
});

describe("message bodies SQS accepts (its character rule; the emulator also refuses astral characters)", () => {
  const SQS_ALLOWED = /^[\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD]*$/;
  const payloads = [
    "plain ASCII",
    "\uFFFF and \uFFFE, the non-characters",
    "emoji 😀 and 𝄞 (astral)",
    "a lone \uD800 surrogate and a lone \uDC00 one",
    "controls \u0000 \u0001 \u001f, DEL \u007f, \u2028 \u2029",
    "accents é ü, CJK 漢字, U+FFFD \uFFFD",
    'quotes " and backslashes \\ and \\u0041 as text',
  ];

  test.each(payloads)("%j: only allowed characters, and parsing gives back the exact payload", (payload) => {
    const message = { v: 1, deliveryId: "dlv_1", payload, data: { [payload]: [payload] } };
    const body = sqsMessageBody(message);
    expect(body).toMatch(SQS_ALLOWED);
    expect(JSON.parse(body)).toEqual(message);
    expect(JSON.parse(body).payload).toBe(payload);
  });

  test("the characters SQS allows stay as they are", () => {
    expect(sqsMessageBody({ p: "é漢\uFFFD" })).toBe('{"p":"é漢\uFFFD"}');
    expect(sqsMessageBody({ p: "\uFFFF😀" })).toBe('{"p":"\\uffff\\ud83d\\ude00"}');
  });

  /** The largest event ingest accepts, of each kind of character that grows most, still fits one SQS message. */
  test.each([
    ["U+FFFF", "\uFFFF", 3],
    ["an emoji", "😀", 4],
    ["é", "é", 2],
    ['"', '"', 2],
    ["\\", "\\", 2],
    ["U+0001", "\u0001", 6],
  ])(`data of %s up to the ${INGEST.maxDataBytes}-byte limit fits in 1 MiB`, (_name, char, serialisedBytes) => {
    const data = { blob: char.repeat(Math.floor((INGEST.maxDataBytes - 12) / serialisedBytes)) };
    expect(Buffer.byteLength(JSON.stringify(data))).toBeLessThanOrEqual(INGEST.maxDataBytes);
    expect(Buffer.byteLength(JSON.stringify(data))).toBeGreaterThan(INGEST.maxDataBytes - 16);
    const id = "e".repeat(128);
    const tenantId = "t".repeat(128);
    const event: StoredEvent = {
      tenantId,
      id,
      type: "x".repeat(64),
      timestamp: new Date(0).toISOString(),
      acceptedAt: 0,
      payload: JSON.stringify({ id, type: "x".repeat(64), timestamp: new Date(0).toISOString(), tenantId, data }),
      fingerprint: "f",
      deliveries: [{ deliveryId: `dlv_${"0".repeat(26)}`, webhookId: `wh_${"0".repeat(26)}` }],
    };
    const [message] = messagesOf(event, true);
    const body = sqsMessageBody({ ...message, deadLetteredAt: new Date().toISOString(), replayOf: `dlv_${"0".repeat(26)}` });
    expect(body).toMatch(SQS_ALLOWED);
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
  });
});
