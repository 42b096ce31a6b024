import { sinceTime } from "../../bin/cli/commands.ts";
import { healthCell, healthLines, keyValues, rateCell, table, type HealthView } from "../../bin/cli/output.ts";
import { formatTailLine, type TailLine } from "../../bin/cli/tail.ts";

describe("CLI text output", () => {
  test("table pads every column but the last to its widest cell and shows absent values as -", () => {
    expect(
      table(
        ["ID", "STATUS", "LAST"],
        [
          ["dlv_1", "succeeded", 200],
          ["dlv_22", null, "network_error: ECONNREFUSED"],
        ],
      ),
    ).toBe(["ID      STATUS     LAST", "dlv_1   succeeded  200", "dlv_22  -          network_error: ECONNREFUSED"].join("\n"));
  });

  test("keyValues aligns labels and leaves out empty values", () => {
    expect(
      keyValues([
        ["Delivery", "dlv_1"],
        ["Reason", null],
        ["Replay of", "dlv_0"],
      ]),
    ).toBe("Delivery:   dlv_1\nReplay of:  dlv_0");
  });

  test("a webhook's health in a cell: ok, or the circuit's state and paused, with failures in a row and parked deliveries when any", () => {
    const closed: HealthView = { paused: false, rateLimit: null, health: { state: "closed", consecutiveFailures: 0, parked: 0 } };
    expect(healthCell(closed)).toBe("ok");
    expect(healthCell({ ...closed, health: { ...closed.health, consecutiveFailures: 2 } })).toBe("ok (2 failed)");
    const open: HealthView = {
      paused: false,
      rateLimit: 5,
      health: { state: "open", consecutiveFailures: 7, parked: 1_843, openedAt: "2026-11-26T10:00:00.000Z", nextProbeAt: "2026-11-26T10:02:00.000Z" },
    };
    expect(healthCell(open)).toBe("open (7 failed, 1843 parked)");
    expect(healthCell({ ...open, health: { ...open.health, state: "half-open" } })).toBe("half-open (7 failed, 1843 parked)");
    expect(healthCell({ ...closed, paused: true })).toBe("paused");
    expect(healthCell({ ...closed, paused: true, health: { ...closed.health, parked: 12 } })).toBe("paused (12 parked)");
    expect(healthCell({ ...open, paused: true })).toBe("paused, open (7 failed, 1843 parked)");
    expect([rateCell(closed), rateCell(open)]).toEqual(["-", "5/s"]);

    expect(keyValues(healthLines(closed))).toBe(
      ["Paused:      no", "Rate limit:  none", "Circuit:     closed", "Failures:    0 in a row", "Parked:      0"].join("\n"),
    );
    expect(keyValues(healthLines({ ...open, paused: true }))).toBe(
      [
        "Paused:      yes: its deliveries are parked until it is resumed",
        "Rate limit:  5 deliveries/s",
        "Circuit:     open since 2026-11-26 10:00:00Z",
        "Failures:    7 in a row",
        "Parked:      1843",
        "Next probe:  2026-11-26 10:02:00Z",
      ].join("\n"),
    );
  });

  test("sinceTime turns a duration into that long ago, keeps an ISO time as given, and refuses anything else", () => {
    const now = Date.parse("2026-11-26T12:00:00Z");
    expect(sinceTime("2h", now)).toBe("2026-11-26T10:00:00.000Z");
    expect(sinceTime("30m", now)).toBe("2026-11-26T11:30:00.000Z");
    expect(sinceTime("7d", now)).toBe("2026-11-19T12:00:00.000Z");
    expect(sinceTime("2026-11-26T09:00:00Z", now)).toBe("2026-11-26T09:00:00Z");
    expect(sinceTime("2026-11-26T09:00:00.5+01:00", now)).toBe("2026-11-26T09:00:00.5+01:00");
    expect(() => sinceTime("yesterday", now)).toThrow(
      '--since "yesterday" is neither an ISO 8601 time (2026-11-26T10:00:00Z) nor a duration ago (30m, 2h, 7d)',
    );
    expect(() => sinceTime("2026-11-26", now, "--until")).toThrow('--until "2026-11-26" is neither');
    expect(() => sinceTime("2026-13-45T99:00:00Z", now)).toThrow("is neither");
  });

  test("a tail line names the attempt and what came of it", () => {
    const line: TailLine = {
      deliveryId: "dlv_1",
      webhookId: "wh_1",
      eventId: "evt_1",
      eventType: "file.ingested",
      result: "retrying",
      nextAttemptAt: "2026-11-26T10:00:35.000Z",
      attempt: { n: 2, at: "2026-11-26T10:00:05.120Z", statusCode: 503, error: "http_error: HTTP 503", durationMs: 42, responseExcerpt: null },
    };
    expect(formatTailLine(line)).toBe("10:00:05Z  wh_1  dlv_1  file.ingested          #2  503                    42ms  ✖ retry at 10:00:35Z");
    expect(
      formatTailLine({
        ...line,
        result: "failed",
        nextAttemptAt: null,
        attempt: { ...line.attempt, statusCode: null, error: "timeout: no response in 10000 ms" },
      }),
    ).toBe("10:00:05Z  wh_1  dlv_1  file.ingested          #2  timeout: no response in 10000 ms     42ms  ✖ failed (DLQ)");
  });
});

describe("CLI replay of a time range", () => {
  test("follows the answers' cursors until the range is done, with one until bound for every call, and sums what was replayed", async () => {
    const { replayCommand } = await import("../../bin/cli/commands.ts");
    const calls: Record<string, unknown>[] = [];
    const answers = [
      { replayed: 1_000, matched: 1_000, truncated: true, status: "failed", cursor: "c1" },
      { replayed: 998, matched: 1_000, truncated: true, status: "failed", cursor: "c2" },
      { replayed: 5, matched: 5, truncated: false, status: "failed", cursor: null },
    ];
    const printed: string[] = [];
    const client = { replay: async (_t: string, _w: string, range: Record<string, unknown>) => (calls.push(range), answers[calls.length - 1]) };
    const ctx = { json: false, client: async () => client as never, print: (t: string) => printed.push(t), note: () => {} };
    await replayCommand(ctx, undefined, { tenant: "acct_1", webhook: "wh_1", since: "2026-11-26T10:00:00Z" });
    expect(calls.map((c) => c.cursor)).toEqual([undefined, "c1", "c2"]);
    expect(new Set(calls.map((c) => c.until)).size).toBe(1);
    expect(calls.every((c) => c.since === "2026-11-26T10:00:00Z")).toBe(true);
    expect(printed).toEqual(["replayed 2003 of 2005 failed deliveries since 2026-11-26T10:00:00Z (3 calls)"]);
  });
});
