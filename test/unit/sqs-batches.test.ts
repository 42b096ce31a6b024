import { sendBatches } from "#core/adapters/sqs.ts";

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
