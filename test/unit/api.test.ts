import { type ApiRequest, handleApi, isJsonMediaType, type RouteHandler } from "#core/api.ts";
import { ApiError } from "#core/errors.ts";
import { INGEST } from "#core/settings.ts";

/**
 * handleApi, the one dispatcher of the management, ingest and portal APIs: the refusals it makes
 * before any route runs (unknown route, body too large, not JSON, not UTF-8), in the one error shape,
 * and what it logs for each. apigateway.test.ts runs the same through the λ's API Gateway adapter.
 */

type Logged = [level: string, message: string, fields: Record<string, unknown>];

function recordingLogger() {
  const lines: Logged[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push([level, message, fields ?? {}]);
  return { lines, logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") } };
}

const JSON_TYPE = "application/json";
const seen: ApiRequest[] = [];
const routes: Record<string, RouteHandler> = {
  "POST /events": async (req) => {
    seen.push(req);
    return { statusCode: 202, body: { accepted: true } };
  },
  "GET /conflict": async () => {
    throw new ApiError(409, "webhook_disabled", "webhook is disabled", [{ field: "enabled", message: "is false" }]);
  },
  "GET /broken": async () => {
    throw new TypeError("cannot read properties of undefined");
  },
};

const req = (over: Partial<ApiRequest>): ApiRequest => ({ routeKey: "POST /events", pathParameters: {}, query: {}, ...over });

async function call(over: Partial<ApiRequest>) {
  const { lines, logger } = recordingLogger();
  seen.length = 0;
  const res = await handleApi(routes, req(over), logger);
  return { res, lines, reached: seen.length === 1 };
}

describe("handleApi", () => {
  test("hands a JSON request to its route and answers what the route answers, logging nothing", async () => {
    const { res, lines, reached } = await call({ body: '{"a":1}', contentType: JSON_TYPE });
    expect([res, lines, reached]).toEqual([{ statusCode: 202, body: { accepted: true } }, [], true]);
  });

  test("an unknown route is a 404 route_not_found naming it, logged as refused", async () => {
    const { res, lines } = await call({ routeKey: "DELETE /events" });
    expect(res).toEqual({ statusCode: 404, body: { error: { code: "route_not_found", message: "no route DELETE /events", details: [] } } });
    expect(lines).toEqual([["info", "request refused", { routeKey: "DELETE /events", status: 404, code: "route_not_found" }]]);
  });

  test("a route's ApiError becomes its status and body", async () => {
    const { res, lines } = await call({ routeKey: "GET /conflict" });
    expect(res).toEqual({
      statusCode: 409,
      body: { error: { code: "webhook_disabled", message: "webhook is disabled", details: [{ field: "enabled", message: "is false" }] } },
    });
    expect(lines).toEqual([["info", "request refused", { routeKey: "GET /conflict", status: 409, code: "webhook_disabled" }]]);
  });

  test("any other error is a 500 internal_error that hides it, and is logged as an error with it", async () => {
    const { res, lines } = await call({ routeKey: "GET /broken" });
    expect(res).toEqual({ statusCode: 500, body: { error: { code: "internal_error", message: "internal error; the request may be retried", details: [] } } });
    expect(lines).toHaveLength(1);
    const [level, message, fields] = lines[0];
    expect([level, message, fields.routeKey, (fields.error as Error).message]).toEqual([
      "error",
      "request failed",
      "GET /broken",
      "cannot read properties of undefined",
    ]);
  });

  describe("body size", () => {
    const TOO_LARGE = {
      statusCode: 413,
      body: {
        error: {
          code: "payload_too_large",
          message: `request body is larger than ${INGEST.maxRequestBytes} bytes`,
          details: [{ field: "(body)", message: `must be at most ${INGEST.maxRequestBytes} bytes` }],
        },
      },
    };
    /** A JSON string body of exactly `bytes` UTF-8 bytes, made of `char`. */
    const bodyOf = (bytes: number, char = "a") => `"${char.repeat((bytes - 2) / Buffer.byteLength(char))}"`;

    test("exactly the limit reaches the route", async () => {
      const body = bodyOf(INGEST.maxRequestBytes);
      expect(Buffer.byteLength(body)).toBe(INGEST.maxRequestBytes);
      expect((await call({ body, contentType: JSON_TYPE })).reached).toBe(true);
    });

    test("one byte over is a 413, before the content type is looked at", async () => {
      const { res, reached } = await call({ body: bodyOf(INGEST.maxRequestBytes + 1), contentType: "text/plain" });
      expect([res, reached]).toEqual([TOO_LARGE, false]);
    });

    test("counts bytes, not characters: fewer characters than the limit, in 2-byte ones, is too large", async () => {
      const body = bodyOf(INGEST.maxRequestBytes + 2, "é");
      expect(body.length).toBeLessThan(INGEST.maxRequestBytes);
      expect((await call({ body, contentType: JSON_TYPE })).res).toEqual(TOO_LARGE);
    });
  });

  describe("media type", () => {
    const unsupported = (got: string) => ({
      statusCode: 415,
      body: {
        error: {
          code: "unsupported_media_type",
          message: `request bodies must be JSON, sent as 'content-type: application/json' (got ${got})`,
          details: [{ field: "content-type", message: "must be application/json (charset, if given, utf-8)" }],
        },
      },
    });

    test("a body sent as text/plain is a 415 quoting the content type", async () => {
      const { res, reached } = await call({ body: "{}", contentType: "text/plain" });
      expect([res, reached]).toEqual([unsupported('"text/plain"'), false]);
    });

    test("a body without a content type is a 415 that says none was given", async () => {
      expect((await call({ body: "{}" })).res).toEqual(unsupported('"none"'));
    });

    test("an empty body, or none, needs no content type", async () => {
      expect([(await call({ body: "" })).reached, (await call({})).reached]).toEqual([true, true]);
    });
  });

  describe("a body that is not UTF-8", () => {
    test("sent as JSON is a 400 invalid_encoding; the route never sees it", async () => {
      const { res, reached } = await call({ bodyNotUtf8: true, contentType: JSON_TYPE });
      expect([res, reached]).toEqual([
        {
          statusCode: 400,
          body: {
            error: {
              code: "invalid_encoding",
              message: "request body is not valid UTF-8",
              details: [{ field: "(body)", message: "must be JSON encoded as UTF-8" }],
            },
          },
        },
        false,
      ]);
    });

    test("sent without a content type is a 415 first (it is a body all the same)", async () => {
      expect((await call({ bodyNotUtf8: true })).res.statusCode).toBe(415);
    });
  });
});

describe("isJsonMediaType", () => {
  test.each([
    "application/json",
    "APPLICATION/JSON",
    "  application/json  ",
    "application/json;",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    'application/json; charset="utf-8"',
    "application/json; charset=utf-8; charset=utf-8",
  ])("%j is JSON", (contentType) => {
    expect(isJsonMediaType(contentType)).toBe(true);
  });

  test.each([
    undefined,
    "",
    "text/json",
    "application/jsonp",
    "application/json-seq",
    "application/problem+json",
    "application/json; charset=latin1",
    "application/json; charset=utf-16",
    "application/json; charset=utf-8x",
    "application/json; xcharset=utf-8",
    "application/json; charset=utf-8; boundary=x",
    "application/json; boundary=x; charset=utf-8",
  ])("%j is not", (contentType) => {
    expect(isJsonMediaType(contentType)).toBe(false);
  });
});
