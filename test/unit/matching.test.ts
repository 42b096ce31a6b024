import { EVENT_TYPE_NAMES } from "#core/catalogue.ts";
import { matchesType, unknownPatterns } from "#core/matching.ts";

/** Subscription patterns (docs/architecture.md): exact types, family wildcards (`record.*`) and `*`. */

describe("matchesType", () => {
  test.each([
    [["*"], "record.created", true],
    [["*"], "ai.insight.generated", true],
    [["record.created"], "record.created", true],
    [["record.created"], "record.updated", false],
    [["record.*"], "record.created", true],
    [["record.*"], "record.updated", true],
    [["record.*"], "file.ingested", false],
    [["record.*"], "records.created", false], // a family is a whole segment, not a prefix of one
    [["record.*"], "record", false],
    [["ai.*"], "ai.insight.generated", true], // a family covers every deeper level
    [["ai.insight.*"], "ai.insight.generated", true],
    [["ai.insight.*"], "ai.other", false],
    [["file.ingested", "sync.*"], "sync.completed", true],
    [["file.ingested", "sync.*"], "record.created", false],
    [[], "record.created", false],
    [["record.created*"], "record.created", false], // only `.*` at the end is a wildcard
    [["*.created"], "record.created", false], // no leading wildcard
    [["Record.Created"], "record.created", false], // exact, case-sensitive
  ])("%j matches %s: %s", (patterns, type, expected) => {
    expect(matchesType(patterns, type)).toBe(expected);
  });
});

describe("unknownPatterns", () => {
  test("every catalogue name, every family of the catalogue and * are known", () => {
    const families = [...new Set(EVENT_TYPE_NAMES.map((n) => `${n.split(".")[0]}.*`))];
    expect(families).toEqual(["record.*", "file.*", "sync.*", "ai.*"]);
    expect(unknownPatterns([...EVENT_TYPE_NAMES, ...families, "*", "ai.insight.*"], EVENT_TYPE_NAMES)).toEqual([]);
  });

  test("returns exactly the patterns that name nothing, in order", () => {
    expect(unknownPatterns(["record.created", "record.deleted", "invoice.*", "*", "recrod.created", "record"], EVENT_TYPE_NAMES)).toEqual([
      "record.deleted",
      "invoice.*",
      "recrod.created",
      "record",
    ]);
  });

  test("a pattern is known only against the list it is checked with", () => {
    expect(unknownPatterns(["record.*"], ["file.ingested"])).toEqual(["record.*"]);
    expect(unknownPatterns(["*"], [])).toEqual(["*"]);
  });
});
