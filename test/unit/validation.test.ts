import { z } from "zod";
import { ApiError, notFound, validationError } from "#core/errors.ts";
import { fieldPath, issuesToDetails, jsonValueProblem, parseJsonBody, parseOrThrow, tenantIdSchema } from "#core/validation.ts";

/**
 * The one error shape of every refusal (docs/openapi.yaml: `Error`) and the validation helpers that fill it: which
 * field a refusal names, and with which message. The integration tests (bad input, OpenAPI
 * conformance) see the same through HTTP; these run in the unit project, which mutation testing runs.
 */

/** What `fn` threw, for assertions on the refusal itself. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a refusal, got none");
}

/** The HTTP answer a thrown ApiError becomes: status and body. */
function refusal(fn: () => unknown): { status: number; body: unknown } {
  const err = thrown(fn);
  expect(err).toBeInstanceOf(ApiError);
  return { status: (err as ApiError).status, body: (err as ApiError).toBody() };
}

describe("ApiError", () => {
  test("is an Error named ApiError whose body is {error: {code, message, details}}", () => {
    const err = new ApiError(409, "webhook_disabled", "webhook is disabled", [{ field: "enabled", message: "is false" }]);
    expect(err).toBeInstanceOf(Error);
    expect([err.name, err.message, err.status]).toEqual(["ApiError", "webhook is disabled", 409]);
    expect(err.toBody()).toEqual({ error: { code: "webhook_disabled", message: "webhook is disabled", details: [{ field: "enabled", message: "is false" }] } });
    expect(String(err)).toBe("ApiError: webhook is disabled");
  });

  test("without details has an empty details list", () => {
    expect(new ApiError(409, "conflict", "no").toBody()).toEqual({ error: { code: "conflict", message: "no", details: [] } });
  });

  test("notFound names what was not found: 404 not_found", () => {
    const err = notFound("webhook");
    expect([err.status, err.toBody()]).toEqual([404, { error: { code: "not_found", message: "webhook not found", details: [] } }]);
  });
});

describe("validationError", () => {
  test("with one detail: 400 validation_failed, the message is that field and its problem", () => {
    const err = validationError([{ field: "url", message: "must use https" }]);
    expect([err.status, err.toBody()]).toEqual([
      400,
      { error: { code: "validation_failed", message: "url: must use https", details: [{ field: "url", message: "must use https" }] } },
    ]);
  });

  test("with several: the message counts the fields, the details name each", () => {
    const details = [
      { field: "url", message: "must use https" },
      { field: "eventTypes[0]", message: "is not a known event type" },
    ];
    expect(validationError(details).toBody()).toEqual({ error: { code: "validation_failed", message: "2 fields are invalid", details } });
  });
});

describe("fieldPath", () => {
  test.each([
    [[], "", "(body)"],
    [["url"], "", "url"],
    [["events", 2, "data", "recordId"], "", "events[2].data.recordId"],
    [[0, "type"], "", "[0].type"],
    [["matrix", 1, 0], "", "matrix[1][0]"],
    [["limit"], "query", "query.limit"],
    [[3], "events", "events[3]"],
    [[], "query", "query"],
  ])("%j with prefix %j is %s", (path, prefix, expected) => {
    expect(fieldPath(path, prefix)).toBe(expected);
  });

  test("the prefix defaults to none", () => {
    expect(fieldPath(["a", "b"])).toBe("a.b");
  });
});

describe("issuesToDetails", () => {
  const schema = z.strictObject({
    name: z
      .string()
      .min(3, "must be at least 3 characters")
      .regex(/^[a-z]+$/, "must be lower-case letters"),
    events: z.array(z.strictObject({ type: z.string("must be a string") })),
  });
  const issues = (input: unknown) => schema.safeParse(input).error!.issues;

  test("an unknown field is named itself, with 'is not a known field' (one detail per unknown key)", () => {
    expect(issuesToDetails(issues({ name: "abc", events: [{ type: "x", priority: 1, colour: "red" }] }))).toEqual([
      { field: "events[0].priority", message: "is not a known field" },
      { field: "events[0].colour", message: "is not a known field" },
    ]);
  });

  test("a field with several problems is named once, with its first one", () => {
    expect(issuesToDetails(issues({ name: "A", events: [] }))).toEqual([{ field: "name", message: "must be at least 3 characters" }]);
  });

  test("different fields each get their detail, under the prefix", () => {
    expect(issuesToDetails(issues({ name: "ab", events: [{ type: 1 }] }), "body")).toEqual([
      { field: "body.name", message: "must be at least 3 characters" },
      { field: "body.events[0].type", message: "must be a string" },
    ]);
  });
});

describe("parseOrThrow", () => {
  const schema = z.object({ limit: z.coerce.number().int("must be a whole number").max(100, "must be at most 100") });

  test("returns the parsed value (coerced, unknown keys stripped)", () => {
    expect(parseOrThrow(schema, { limit: "7", other: 1 })).toEqual({ limit: 7 });
  });

  test("without a prefix, names the field as it is in the input", () => {
    expect(refusal(() => parseOrThrow(schema, { limit: 1.5 }))).toEqual({
      status: 400,
      body: {
        error: { code: "validation_failed", message: "limit: must be a whole number", details: [{ field: "limit", message: "must be a whole number" }] },
      },
    });
  });

  test("refuses with a 400 naming each invalid field under the prefix", () => {
    expect(refusal(() => parseOrThrow(schema, { limit: "500" }, "query"))).toEqual({
      status: 400,
      body: {
        error: { code: "validation_failed", message: "query.limit: must be at most 100", details: [{ field: "query.limit", message: "must be at most 100" }] },
      },
    });
  });
});

describe("parseJsonBody", () => {
  test.each([undefined, "", "   ", "\n\t"])("%j is an absent body (undefined)", (body) => {
    expect(parseJsonBody(body)).toBeUndefined();
  });

  test.each([
    ['{"a":1}', { a: 1 }],
    [' [1, "x"] ', [1, "x"]],
    ["0", 0],
    ["false", false],
    ['""', ""],
  ])("%s parses to its value", (body, value) => {
    expect(parseJsonBody(body)).toEqual(value);
  });

  test("malformed JSON is a 400 invalid_json that says what JSON.parse found", () => {
    const { status, body } = refusal(() => parseJsonBody('{"a":'));
    const parseMessage = (thrown(() => JSON.parse('{"a":')) as Error).message;
    expect({ status, body }).toEqual({
      status: 400,
      body: {
        error: {
          code: "invalid_json",
          message: `request body is not valid JSON: ${parseMessage}`,
          details: [{ field: "(body)", message: "must be a JSON document" }],
        },
      },
    });
  });

  test("a JSON null is a 400 validation_failed on the body", () => {
    expect(refusal(() => parseJsonBody("null"))).toEqual({
      status: 400,
      body: {
        error: {
          code: "validation_failed",
          message: "(body): must be a JSON object, not null",
          details: [{ field: "(body)", message: "must be a JSON object, not null" }],
        },
      },
    });
  });
});

describe("tenantIdSchema", () => {
  const problem = (value: unknown) => tenantIdSchema.safeParse(value).error?.issues[0]?.message;

  test("takes 1 to 128 characters of letters, digits and _ . : - (not first)", () => {
    expect([problem("a"), problem("A".repeat(128)), problem("acct_1.eu:x-y")]).toEqual([undefined, undefined, undefined]);
  });

  test.each([
    [42, "is required and must be a string"],
    ["", "must not be empty"],
    ["a".repeat(129), "must be at most 128 characters"],
    ["_acct", "may contain only letters, digits, '_', '.', ':' and '-'"],
    ["acct/1", "may contain only letters, digits, '_', '.', ':' and '-'"],
  ])("refuses %j: %s", (value, message) => {
    expect(problem(value)).toBe(message);
  });
});

describe("jsonValueProblem", () => {
  const TOO_DEEP = (n: number) => `must nest objects and arrays at most ${n} levels deep`;
  const NOT_A_DOUBLE = "holds a number beyond the range of a double (e.g. 1e400)";

  test.each([
    ["a scalar", 1, 0],
    ["null", null, 0],
    ["a string", "x", 0],
    ["an object of scalars at the limit", { a: 1, b: "x", c: null, d: true }, 1],
    ["objects nested exactly to the limit", { a: { b: { c: 1 } } }, 3],
    ["arrays nested exactly to the limit", [[[1, null]]], 3],
  ])("%s is fine", (_name, value, maxDepth) => {
    expect(jsonValueProblem(value, maxDepth)).toBeUndefined();
  });

  test.each([
    ["an object at depth 1 with limit 0", {}, 0],
    ["objects one level too deep", { a: { b: { c: {} } } }, 3],
    ["arrays one level too deep", [[[[]]]], 3],
    ["a deep branch beside a shallow one", { shallow: 1, deep: [{ x: [[1]] }] }, 3],
  ])("%s is too deep", (_name, value, maxDepth) => {
    expect(jsonValueProblem(value, maxDepth)).toBe(TOO_DEEP(maxDepth));
  });

  test("measures 100 000 levels without overflowing the stack", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(jsonValueProblem(deep, 32)).toBe(TOO_DEEP(32));
  });

  test.each([
    ["1e400 at the top", JSON.parse("1e400")],
    ["-1e400 inside", { a: [1, JSON.parse("-1e400")] }],
    ["NaN", Number.NaN],
  ])("%s is a number beyond a double", (_name, value) => {
    expect(jsonValueProblem(value, 10)).toBe(NOT_A_DOUBLE);
  });

  test("finite extremes are fine", () => {
    expect(jsonValueProblem([Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 0], 5)).toBeUndefined();
  });
});
