import { deliveryIdBounds, deterministicDeliveryId, isDeliveryId, isWebhookId, newDeliveryId, newEventId, newWebhookId } from "#core/ids.ts";

/** Prefixed, time-sortable ids (docs/architecture.md#tables). */

const ULID = "[0-9A-HJKMNP-TV-Z]{26}";
const T0 = Date.parse("2026-11-26T10:00:00Z");

/**
 * The id factories are monotonic and share one clock: asked for a time earlier than the latest id
 * made in this process, they keep that later time. Each test that needs ids stamped with a time it
 * chooses takes a fresh one, beyond every time used before (ULID time lasts until year 10889).
 */
let horizon = Date.now() + 86_400_000;
const freshTime = (): number => (horizon += 1_000 * 86_400_000);

test.each([
  ["wh_", newWebhookId],
  ["evt_", newEventId],
  ["dlv_", newDeliveryId],
])("%s ids: prefix + a 26-character Crockford ULID", (prefix, make) => {
  const id = make();
  expect(id).toMatch(new RegExp(`^${prefix}${ULID}$`));
  expect(make()).not.toBe(id);
});

test("isWebhookId / isDeliveryId accept only their own kind", () => {
  expect(isWebhookId(newWebhookId())).toBe(true);
  expect(isDeliveryId(newDeliveryId())).toBe(true);
  for (const bad of [
    newDeliveryId(),
    newEventId(),
    "wh_",
    "wh_123",
    `wh_${"I".repeat(26)}`,
    `wh_${"0".repeat(27)}`,
    `WH_${"0".repeat(26)}`,
    `wh_${"0".repeat(25)}u`,
  ]) {
    expect(isWebhookId(bad)).toBe(false);
  }
  for (const bad of [newWebhookId(), "dlv_", `dlv_${"O".repeat(26)}`, `dlv_${"0".repeat(26)} `]) expect(isDeliveryId(bad)).toBe(false);
});

test("isWebhookId / isDeliveryId take the whole string: nothing before the prefix, nothing after the ULID", () => {
  const wh = newWebhookId();
  const dlv = newDeliveryId();
  expect([isWebhookId(`x${wh}`), isWebhookId(`${wh}0`), isWebhookId(` ${wh}`)]).toEqual([false, false, false]);
  expect([isDeliveryId(`x${dlv}`), isDeliveryId(`${dlv}0`), isDeliveryId(`tenant/${dlv}`)]).toEqual([false, false, false]);
});

describe("sortable by time", () => {
  test("ids made later sort after ids made earlier, whatever the prefix's kind", () => {
    for (const make of [newWebhookId, newEventId, newDeliveryId]) {
      const t0 = freshTime();
      const times = [t0, t0 + 1, t0 + 999, t0 + 60_000, t0 + 86_400_000, t0 + 365 * 86_400_000];
      const ids = times.map((t) => make(t));
      expect([...ids].sort()).toEqual(ids);
      expect([...ids].reverse().sort()).toEqual(ids);
    }
  });

  test("ids made in the same millisecond still sort in creation order (monotonic)", () => {
    const t = freshTime();
    const ids = Array.from({ length: 200 }, () => newDeliveryId(t));
    expect(new Set(ids).size).toBe(200);
    expect([...ids].sort()).toEqual(ids);
  });

  test("an id asked for an earlier time than the latest one keeps the later time (monotonic)", () => {
    const later = newWebhookId(freshTime());
    const earlier = newWebhookId(T0);
    expect(earlier.slice(3, 13)).toBe(later.slice(3, 13));
    expect(earlier > later).toBe(true);
  });
});

describe("deterministicDeliveryId", () => {
  const base = [T0, "acct_1", "evt_1", "wh_01JDQ7Z3X4Y5Z6A7B8C9D0E1F2"] as const;

  test("is a valid delivery id, stable for the same inputs", () => {
    const id = deterministicDeliveryId(...base);
    expect(isDeliveryId(id)).toBe(true);
    expect(deterministicDeliveryId(...base)).toBe(id);
  });

  test("differs per webhook, per event and per tenant", () => {
    const ids = [
      deterministicDeliveryId(...base),
      deterministicDeliveryId(T0, "acct_1", "evt_1", "wh_01JDQ7Z3X4Y5Z6A7B8C9D0E1F3"),
      deterministicDeliveryId(T0, "acct_1", "evt_2", base[3]),
      deterministicDeliveryId(T0, "acct_2", "evt_1", base[3]),
      // A separator keeps ("acct_1", "evt_1") apart from ("acct_1e", "vt_1"): same concatenation.
      deterministicDeliveryId(T0, "acct_1e", "vt_1", base[3]),
    ];
    expect(new Set(ids).size).toBe(ids.length);
    // Same time part: only the hash part differs.
    expect(new Set(ids.map((i) => i.slice(0, 14))).size).toBe(1);
  });

  test("its time part is the acceptance time, so it sorts with ulid ids of that time", () => {
    const t = freshTime();
    const early = deterministicDeliveryId(t, "acct_1", "evt_1", "wh_x");
    const later = deterministicDeliveryId(t + 1, "acct_1", "evt_1", "wh_x");
    expect(early < later).toBe(true);
    expect(early.slice(0, 14)).toBe(newDeliveryId(t).slice(0, 14));
  });
});

describe("deliveryIdBounds", () => {
  /**
   * A fresh window and its bounds, made inside each test (not in a beforeAll): mutation testing
   * attributes the code a test runs to that test only, and a hook's calls to none.
   */
  function window() {
    const from = freshTime();
    const to = from + 3_600_000;
    const bounds = deliveryIdBounds(from, to);
    return { from, to, bounds, inside: (id: string) => bounds.lowest <= id && id <= bounds.highest };
  }

  test("are delivery-id shaped", () => {
    const { bounds } = window();
    expect(isDeliveryId(bounds.lowest)).toBe(true);
    expect(isDeliveryId(bounds.highest)).toBe(true);
  });

  test("bracket every id created in the window, at both edges", () => {
    const { from, to, inside } = window();
    for (const t of [from, from + 1, from + 1_800_000, to - 1, to]) {
      expect(inside(newDeliveryId(t))).toBe(true);
      expect(inside(deterministicDeliveryId(t, "acct_1", `evt_${t}`, "wh_x"))).toBe(true);
    }
  });

  test("leave out ids created just before or just after it", () => {
    const { from, to, inside } = window();
    // newDeliveryId cannot go back in time (monotonic): the deterministic ids stand for "before".
    expect(inside(newDeliveryId(to + 1))).toBe(false);
    expect(inside(deterministicDeliveryId(from - 1, "acct_1", "evt_1", "wh_x"))).toBe(false);
    expect(inside(deterministicDeliveryId(to + 1, "acct_1", "evt_1", "wh_x"))).toBe(false);
  });
});
