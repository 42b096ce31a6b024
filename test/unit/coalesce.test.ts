import { Coalescer } from "#core/coalesce.ts";

/**
 * The Coalescer merges concurrent writes of one key (delivery.ts uses it for a webhook's burst of
 * health writes): while a write is in flight, later calls wait and go together in the next one.
 */

/** A write whose every call the test settles by hand, in order. */
function manualWrite() {
  const calls: { key: string; items: readonly number[]; resolve: (r: string) => void; reject: (e: Error) => void }[] = [];
  const write = (key: string, items: readonly number[]) =>
    new Promise<string>((resolve, reject) => {
      calls.push({ key, items: [...items], resolve, reject });
    });
  return { calls, coalescer: new Coalescer<number, string>(write) };
}

/** Lets every pending promise callback run. */
const settle = () => new Promise((r) => setImmediate(r));
const seen = (calls: { key: string; items: readonly number[] }[]) => calls.map(({ key, items }) => [key, items]);

test("a call with nothing in flight writes at once, alone, and gets its write's result", async () => {
  const { calls, coalescer } = manualWrite();
  const p = coalescer.call("wh_1", 1);
  expect(seen(calls)).toEqual([["wh_1", [1]]]);
  calls[0].resolve("r1");
  expect(await p).toBe("r1");
});

test("calls during a write wait, then go together in one write, and all get its result", async () => {
  const { calls, coalescer } = manualWrite();
  const first = coalescer.call("wh_1", 1);
  const waiting = [coalescer.call("wh_1", 2), coalescer.call("wh_1", 3), coalescer.call("wh_1", 4)];
  expect(seen(calls)).toEqual([["wh_1", [1]]]);

  calls[0].resolve("r1");
  expect(await first).toBe("r1");
  await settle();
  expect(seen(calls)).toEqual([
    ["wh_1", [1]],
    ["wh_1", [2, 3, 4]],
  ]);
  calls[1].resolve("r2");
  expect(await Promise.all(waiting)).toEqual(["r2", "r2", "r2"]);
});

test("calls during the merged write wait for the one after it", async () => {
  const { calls, coalescer } = manualWrite();
  void coalescer.call("wh_1", 1);
  const second = coalescer.call("wh_1", 2);
  calls[0].resolve("r1");
  await settle();
  const third = [coalescer.call("wh_1", 3), coalescer.call("wh_1", 4)];
  await settle();
  expect(seen(calls)).toEqual([
    ["wh_1", [1]],
    ["wh_1", [2]],
  ]);
  calls[1].resolve("r2");
  expect(await second).toBe("r2");
  await settle();
  expect(seen(calls).at(-1)).toEqual(["wh_1", [3, 4]]);
  calls[2].resolve("r3");
  expect(await Promise.all(third)).toEqual(["r3", "r3"]);
});

test("different keys never wait for each other", () => {
  const { calls, coalescer } = manualWrite();
  void coalescer.call("wh_1", 1);
  void coalescer.call("wh_2", 2);
  void coalescer.call("wh_1", 3);
  expect(seen(calls)).toEqual([
    ["wh_1", [1]],
    ["wh_2", [2]],
  ]);
});

test("a failed write fails its callers only: the waiting ones are still written", async () => {
  const { calls, coalescer } = manualWrite();
  const first = coalescer.call("wh_1", 1);
  const second = coalescer.call("wh_1", 2);
  calls[0].reject(new Error("throttled"));
  await expect(first).rejects.toThrow("throttled");
  await settle();
  expect(seen(calls)).toEqual([
    ["wh_1", [1]],
    ["wh_1", [2]],
  ]);
  calls[1].resolve("r2");
  expect(await second).toBe("r2");
});

test.each([
  ["succeeded", (c: { resolve: (r: string) => void }) => c.resolve("r")],
  ["failed", (c: { reject: (e: Error) => void }) => c.reject(new Error("no"))],
])("once every write of a key has %s, the next call writes at once again", async (_name, end) => {
  const { calls, coalescer } = manualWrite();
  const first = coalescer.call("wh_1", 1);
  const second = coalescer.call("wh_1", 2);
  end(calls[0] as never);
  await first.catch(() => {});
  await settle();
  end(calls[1] as never);
  await second.catch(() => {});
  await settle();

  void coalescer.call("wh_1", 3);
  expect(seen(calls).at(-1)).toEqual(["wh_1", [3]]);
});
