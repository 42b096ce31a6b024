/**
 * The benchmark's events: `ai.insight.generated` with a summary padded so that what an endpoint
 * receives (the envelope in docs/receiving-webhooks.md plus `data`) is about 1 KiB. `data.publishedAt` carries the
 * publish time (epoch ms) so a receiver can measure publish → received latency.
 */
export const EVENT_TYPE = "ai.insight.generated";
export const TARGET_PAYLOAD_BYTES = 1_024;

/** Everything of a delivered payload except `summary`'s padding, at its longest. */
const ENVELOPE_BYTES = Buffer.byteLength(
  JSON.stringify({
    id: "evt_01KBENCH0000000000000000000",
    type: EVENT_TYPE,
    timestamp: "2026-11-26T10:00:00.000Z",
    tenantId: "acct_bench_f10",
    data: { insightId: "ins_0000000", recordId: "rec_0000000", severity: "medium", publishedAt: 1_800_000_000_000, summary: "" },
  }),
);

const WORDS = (
  "retention period record legal hold review owner policy archive contract invoice lease expiry " +
  "renewal clause tenant vendor approval missing signature duplicate version sensitive personal data " +
  "access audit trail export classification schedule destroy transfer custody compliance regulator " +
  "deadline notice within days after before under against since pending overdue flagged anomaly"
).split(" ");

/**
 * Summaries of pseudo-random words (fixed seeds, so every run sends the same ones): they compress
 * like prose, about 2–3×, where a repeated sentence would flatter the stored, gzipped event.
 */
const SUMMARIES = Array.from({ length: 64 }, (_, seed) => {
  let state = seed + 1;
  const next = () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return state >>> 8;
  };
  let text = "";
  while (text.length < TARGET_PAYLOAD_BYTES) text += `${WORDS[next() % WORDS.length]}${next() % 9 === 0 ? ". " : " "}`;
  return text.slice(0, TARGET_PAYLOAD_BYTES - ENVELOPE_BYTES);
});

export function eventData(seq: number, publishedAt: number) {
  return {
    insightId: `ins_${String(seq % 10_000_000).padStart(7, "0")}`,
    recordId: `rec_${String(seq % 10_000_000).padStart(7, "0")}`,
    severity: "medium",
    publishedAt,
    summary: SUMMARIES[seq % SUMMARIES.length],
  };
}

/** A payload as the deliver λ sends it, for the bare loop (same shape and size as the real ones). */
export function deliveredPayload(seq: number, tenantId: string, publishedAt: number): string {
  const id = `evt_01KBENCH${String(seq).padStart(19, "0")}`;
  return JSON.stringify({ id, type: EVENT_TYPE, timestamp: new Date(publishedAt).toISOString(), tenantId, data: eventData(seq, publishedAt) });
}

/** Reads `publishedAt` back from a delivered body without parsing all of it. */
export function publishedAtOf(body: string): number | undefined {
  const m = /"publishedAt":(\d+)/.exec(body);
  return m ? Number(m[1]) : undefined;
}
