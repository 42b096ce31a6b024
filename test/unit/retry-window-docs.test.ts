import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_RETRY_SCHEDULE_SECONDS, MAX_VISIBILITY_TIMEOUT_SECONDS, RETRY_JITTER } from "#core/settings.ts";

/**
 * One number for the default retry window, computed from the schedule itself, in every document
 * and every source file's comments that state it: "about 2.2 days", never "two days" or "2.5 days".
 */
const ROOT = join(import.meta.dirname, "..", "..");
const DAY = 86_400;
const total = DEFAULT_RETRY_SCHEDULE_SECONDS.reduce((a, b) => a + b, 0);
const days = (seconds: number) => (seconds / DAY).toFixed(1);
/** The source folders whose comments may state the window (tests are left out: they quote wrong phrasings). */
const SOURCES = ["bench", "bin", "client", "examples", "lambdas", "lib", "local", "portal", "scripts", "sim"];
const source = (dir: string) =>
  readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => /\.(ts|tsx|mjs|js)$/.test(f) && !f.split(/[\\/]/).includes("node_modules"))
    .map((f) => `${dir}/${f.replaceAll("\\", "/")}`);
const files = [
  "README.md",
  "examples/README.md",
  // docs/scale.md is left out: its "for 3 days" are the simulated scenarios' durations, not the retry window.
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md") && f !== "scale.md")
    .map((f) => `docs/${f}`),
];
const sources = SOURCES.flatMap(source);
const read = (f: string) => readFileSync(join(ROOT, f), "utf8").replace(/\s+/g, " ");
const text = Object.fromEntries(files.map((f) => [f, read(f)]));
const shortest = total * (1 - RETRY_JITTER);
const longest = DEFAULT_RETRY_SCHEDULE_SECONDS.reduce((a, d) => a + Math.min(d * (1 + RETRY_JITTER), MAX_VISIBILITY_TIMEOUT_SECONDS), 0);

/** Phrases that state a number of days other than the window's (5, 7, 14 and 30 days are other settings). */
function wrongWindows(body: string): string[] {
  const stated = [...body.matchAll(/(?:about|over|for|≈) (two|three|[0-9]+(?:\.[0-9]+)?) days/g)]
    .map((m) => m[0])
    .filter((phrase) => !phrase.endsWith(` ${days(total)} days`) && !/ (5|7|14|30) days$/.test(phrase));
  // A fraction of days is only ever the window (or its bounds with jitter), whatever the words before it.
  const fractions = [...body.matchAll(/\b[0-9]+\.[0-9]+ days\b/g)]
    .map((m) => m[0])
    .filter((phrase) => ![total, shortest, longest].some((s) => phrase === `${days(s)} days`));
  return [...new Set([...stated, ...fractions])];
}

test("the default schedule lasts about 2.2 days (1.7 to 2.3 with jitter)", () => {
  expect(days(total)).toBe("2.2");
  expect([days(shortest), days(longest)]).toEqual(["1.7", "2.3"]);
  expect(text["docs/delivery-semantics.md"]).toContain(`about ${days(total)} days (${days(shortest)} to ${days(longest)} days with jitter)`);
});

test.each(files)("%s states the retry window as the schedule computes it", (file) => {
  expect(wrongWindows(text[file])).toEqual([]);
});

test("source comments state the retry window as the schedule computes it", () => {
  expect(sources.length).toBeGreaterThan(50);
  expect(sources).toContain("sim/scenarios.ts");
  const wrong = sources.flatMap((f) => wrongWindows(read(f)).map((phrase) => `${f}: ${phrase}`));
  expect(wrong).toEqual([]);
});

test("the documents that speak of the retry window say about 2.2 days", () => {
  for (const file of [
    "README.md",
    "examples/README.md",
    "docs/delivery-semantics.md",
    "docs/receiving-webhooks.md",
    "docs/operations.md",
    "lambdas/core/settings.ts",
  ]) {
    expect([file, read(file).includes(`about ${days(total)} days`)]).toEqual([file, true]);
  }
});
