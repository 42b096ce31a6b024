import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { handleApi, isJsonMediaType } from "#core/api.ts";
import { fromApiGateway, toApiGateway } from "../../lambdas/shared/apigateway.ts";

/**
 * The λ side of what the local API server also enforces (issue 12): a body must be UTF-8 JSON sent as
 * `application/json`. API Gateway hands a body it takes for binary to the λ base64-encoded; the λ
 * decodes it strictly and refuses bytes that are not UTF-8 instead of replacing them with U+FFFD.
 */
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const echo = { "POST /events": async (req: { body?: string }) => ({ statusCode: 202, body: { got: req.body } }) };

function event(body: Buffer | string | undefined, headers: Record<string, string>, base64: boolean): APIGatewayProxyEventV2 {
  return {
    version: "2.0",
    routeKey: "POST /events",
    rawPath: "/events",
    rawQueryString: "",
    headers,
    body: body === undefined ? undefined : base64 ? Buffer.from(body).toString("base64") : String(body),
    isBase64Encoded: base64,
    requestContext: {} as APIGatewayProxyEventV2["requestContext"],
  };
}

const call = async (body: Buffer | string | undefined, headers: Record<string, string>, base64 = false) => {
  const res = toApiGateway(await handleApi(echo, fromApiGateway(event(body, headers, base64)), silent));
  return { status: res.statusCode, body: JSON.parse(String(res.body)) };
};
const json = { "content-type": "application/json" };

test.each([
  ["text, application/json", '{"a":"é"}', json, false],
  ["base64 of valid UTF-8", Buffer.from('{"a":"é😀"}'), json, true],
  ["charset=utf-8", '{"a":1}', { "content-type": "application/json; charset=utf-8" }, false],
  ['charset="UTF-8" in capitals', '{"a":1}', { "content-type": 'Application/JSON;charset="UTF-8"' }, false],
])("%s reaches the route with its exact text", async (_name, body, headers, base64) => {
  expect(await call(body, headers, base64)).toEqual({ status: 202, body: { got: Buffer.from(body).toString("utf8") } });
});

test.each([
  ["0xFF", [0xff]],
  ["an overlong encoding of '/'", [0xc0, 0xaf]],
  ["a surrogate (CESU-8)", [0xed, 0xa0, 0x80]],
  ["a truncated sequence", [0xe2, 0x82]],
])("base64 body with %s → 400 invalid_encoding, never U+FFFD", async (_name, bytes) => {
  const body = Buffer.concat([Buffer.from('{"a":"'), Buffer.from(bytes), Buffer.from('"}')]);
  expect(await call(body, json, true)).toEqual({
    status: 400,
    body: {
      error: { code: "invalid_encoding", message: "request body is not valid UTF-8", details: [{ field: "(body)", message: "must be JSON encoded as UTF-8" }] },
    },
  });
});

test.each([
  ["text/plain", { "content-type": "text/plain" }],
  ["no content-type", {}],
  ["latin1 JSON", { "content-type": "application/json; charset=latin1" }],
  ["a JSON look-alike", { "content-type": "application/jsonp" }],
])("a body sent as %s → 415 naming content-type", async (_name, headers) => {
  const res = await call('{"a":1}', headers);
  expect([res.status, res.body.error.code, res.body.error.details.map((d: { field: string }) => d.field)]).toEqual([
    415,
    "unsupported_media_type",
    ["content-type"],
  ]);
});

test("no body needs no content-type", async () => {
  expect(await call(undefined, {})).toEqual({ status: 202, body: {} });
});

test("isJsonMediaType", () => {
  expect([
    isJsonMediaType("application/json"),
    isJsonMediaType(" application/json ; charset=utf-8"),
    isJsonMediaType("application/json; boundary=x"),
    isJsonMediaType(undefined),
  ]).toEqual([true, true, false, false]);
});
