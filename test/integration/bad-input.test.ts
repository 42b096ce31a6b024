import { request, type IncomingHttpHeaders } from "node:http";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { EVENT_TYPE_NAMES } from "#core/catalogue.ts";
import { TestReceiver } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

/**
 * Every refusal of the API (docs/openapi.yaml, docs/security.md), as one table run against a real local stack: the
 * HTTP server standing in for API Gateway, the ingest and manage λ apps, dynalite and fauxqs.
 * Each row asserts the exact status, `error.code` and the fields `error.details` names. After the
 * table, the tables are scanned: no refused request may have written anything (docs/security.md#input:
 * "nothing is written on a 4xx"), and the receiver every subscription points at got nothing.
 *
 * Path placeholders, filled in once the fixtures exist: {A} a webhook of acct_bad, {B} a webhook of
 * acct_other (foreign to acct_bad), {S} a webhook on the strict stack, {C_…} crafted delivery-log
 * cursors. W and D are well-formed webhook and delivery ids that exist nowhere.
 */
const TENANT = "acct_bad";
const OTHER = "acct_other";
const STRICT_TENANT = "acct_strict";
const SENTINEL = "acct_sentinel";
const W = "wh_01JDQ7Z3X4Y5Z6A7B8C9D0E1F2";
const D = "dlv_01JDQ7Z3X4Y5Z6A7B8C9D0E1F2";

interface Row {
  name: string;
  method: string;
  path: string;
  /** A JSON value, sent as JSON. */
  json?: unknown;
  /** Raw request text, sent as is. */
  raw?: string;
  /** Raw request bytes (e.g. not UTF-8), sent as is. */
  bytes?: Buffer;
  /** Headers to send instead of the defaults (`content-type: application/json`, the bearer token); null leaves one out. */
  headers?: Record<string, string | null>;
  /** The request target as sent on the request line, instead of `path` (e.g. an absolute URL). */
  target?: string;
  /** The bearer token: the stack's by default, none when null. */
  token?: string | null;
  /** Run against the stack that refuses private endpoints (WEBHOOKS_ALLOW_PRIVATE_ENDPOINTS=false). */
  strict?: true;
  status: number;
  code: string;
  /** The exact `field`s of `error.details`, in order. */
  fields: string[];
  message?: RegExp;
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

const KNOWN_TYPES = new RegExp(`known types: ${EVENT_TYPE_NAMES.join(", ").replaceAll(".", "\\.")}`);
const event = (over: Record<string, unknown> = {}) => ({ type: "record.created", tenantId: TENANT, data: { recordId: "rec_1" }, ...over });
const without = (key: string) => Object.fromEntries(Object.entries(event()).filter(([k]) => k !== key));
const batch = (n: number, at?: (i: number) => Record<string, unknown>) => ({ events: Array.from({ length: n }, (_, i) => event(at?.(i))) });
const KIB = 1_024;
const bigData = (bytes: number) => ({ recordId: "rec_1", blob: "x".repeat(bytes) });
const hook = { url: "https://example.com/hooks", eventTypes: ["*"] };
const A = `/tenants/${TENANT}/webhooks/{A}`;
/** An event whose data holds `levels` nested arrays below the data object, as JSON text. */
const nestedEvent = (levels: number) =>
  `{"type":"record.created","tenantId":"${TENANT}","data":{"recordId":"rec_1","deep":${"[".repeat(levels)}${"]".repeat(levels)}}}`;
/** A valid event's bytes with `bytes` spliced into a string of its data. */
const utf8With = (bytes: number[]) =>
  Buffer.concat([Buffer.from(`{"type":"record.created","tenantId":"${TENANT}","data":{"recordId":"rec_`), Buffer.from(bytes), Buffer.from('"}}')]);

/** POST /events, single and batch. */
const ingestRows: Row[] = [
  { name: "malformed JSON", method: "POST", path: "/events", raw: '{"type": "record.created",', status: 400, code: "invalid_json", fields: ["(body)"] },
  { name: "trailing comma", method: "POST", path: "/events", raw: '{"type": "record.created",}', status: 400, code: "invalid_json", fields: ["(body)"] },
  { name: "not JSON at all", method: "POST", path: "/events", raw: "type=record.created", status: 400, code: "invalid_json", fields: ["(body)"] },
  { name: "empty body", method: "POST", path: "/events", raw: "", status: 400, code: "validation_failed", fields: ["(body)"] },
  { name: "a JSON array", method: "POST", path: "/events", json: [event()], status: 400, code: "validation_failed", fields: ["(body)"] },
  { name: "a JSON string", method: "POST", path: "/events", json: "record.created", status: 400, code: "validation_failed", fields: ["(body)"] },
  { name: "a JSON number", method: "POST", path: "/events", json: 42, status: 400, code: "validation_failed", fields: ["(body)"] },
  { name: "JSON null", method: "POST", path: "/events", json: null, status: 400, code: "validation_failed", fields: ["(body)"] },
  { name: "JSON true", method: "POST", path: "/events", json: true, status: 400, code: "validation_failed", fields: ["(body)"] },
  { name: "an empty object", method: "POST", path: "/events", json: {}, status: 400, code: "validation_failed", fields: ["type", "tenantId", "data"] },
  { name: "no type", method: "POST", path: "/events", json: without("type"), status: 400, code: "validation_failed", fields: ["type"] },
  { name: "no tenantId", method: "POST", path: "/events", json: without("tenantId"), status: 400, code: "validation_failed", fields: ["tenantId"] },
  { name: "no data", method: "POST", path: "/events", json: without("data"), status: 400, code: "validation_failed", fields: ["data"] },
  {
    name: "an unknown field",
    method: "POST",
    path: "/events",
    json: event({ priority: "high" }),
    status: 400,
    code: "validation_failed",
    fields: ["priority"],
  },
  { name: "two unknown fields", method: "POST", path: "/events", json: event({ a: 1, b: 2 }), status: 400, code: "validation_failed", fields: ["a", "b"] },
  { name: "type is a number", method: "POST", path: "/events", json: event({ type: 7 }), status: 400, code: "validation_failed", fields: ["type"] },
  { name: "type is null", method: "POST", path: "/events", json: event({ type: null }), status: 400, code: "validation_failed", fields: ["type"] },
  {
    name: "unknown type",
    method: "POST",
    path: "/events",
    json: event({ type: "record.deleted" }),
    status: 400,
    code: "unknown_event_type",
    fields: ["type"],
    message: KNOWN_TYPES,
  },
  {
    name: "type in the wrong case",
    method: "POST",
    path: "/events",
    json: event({ type: "Record.Created" }),
    status: 400,
    code: "unknown_event_type",
    fields: ["type"],
    message: KNOWN_TYPES,
  },
  {
    name: "a wildcard as type",
    method: "POST",
    path: "/events",
    json: event({ type: "record.*" }),
    status: 400,
    code: "unknown_event_type",
    fields: ["type"],
    message: KNOWN_TYPES,
  },
  {
    name: "empty type",
    method: "POST",
    path: "/events",
    json: event({ type: "" }),
    status: 400,
    code: "unknown_event_type",
    fields: ["type"],
    message: KNOWN_TYPES,
  },
  {
    name: "tenantId with a space",
    method: "POST",
    path: "/events",
    json: event({ tenantId: "acct bad" }),
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  {
    name: "tenantId with a slash",
    method: "POST",
    path: "/events",
    json: event({ tenantId: "acct/bad" }),
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  {
    name: "tenantId with a #",
    method: "POST",
    path: "/events",
    json: event({ tenantId: "acct#bad" }),
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  {
    name: "tenantId starting with _",
    method: "POST",
    path: "/events",
    json: event({ tenantId: "_acct" }),
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  {
    name: "tenantId non-ASCII",
    method: "POST",
    path: "/events",
    json: event({ tenantId: "äcct" }),
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  { name: "empty tenantId", method: "POST", path: "/events", json: event({ tenantId: "" }), status: 400, code: "validation_failed", fields: ["tenantId"] },
  {
    name: "tenantId of 129 characters",
    method: "POST",
    path: "/events",
    json: event({ tenantId: "a".repeat(129) }),
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  {
    name: "tenantId is a number",
    method: "POST",
    path: "/events",
    json: event({ tenantId: 123 }),
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  { name: "empty id", method: "POST", path: "/events", json: event({ id: "" }), status: 400, code: "validation_failed", fields: ["id"] },
  { name: "id with a space", method: "POST", path: "/events", json: event({ id: "evt 1" }), status: 400, code: "validation_failed", fields: ["id"] },
  {
    name: "id of 129 characters",
    method: "POST",
    path: "/events",
    json: event({ id: "e".repeat(129) }),
    status: 400,
    code: "validation_failed",
    fields: ["id"],
  },
  { name: "id is a number", method: "POST", path: "/events", json: event({ id: 5 }), status: 400, code: "validation_failed", fields: ["id"] },
  {
    name: "occurredAt in words",
    method: "POST",
    path: "/events",
    json: event({ occurredAt: "yesterday" }),
    status: 400,
    code: "validation_failed",
    fields: ["occurredAt"],
  },
  {
    name: "occurredAt a date only",
    method: "POST",
    path: "/events",
    json: event({ occurredAt: "2026-11-26" }),
    status: 400,
    code: "validation_failed",
    fields: ["occurredAt"],
  },
  {
    name: "occurredAt without a zone",
    method: "POST",
    path: "/events",
    json: event({ occurredAt: "2026-11-26T10:00:00" }),
    status: 400,
    code: "validation_failed",
    fields: ["occurredAt"],
  },
  {
    name: "occurredAt month 13",
    method: "POST",
    path: "/events",
    json: event({ occurredAt: "2026-13-26T10:00:00Z" }),
    status: 400,
    code: "validation_failed",
    fields: ["occurredAt"],
  },
  {
    name: "occurredAt unix seconds",
    method: "POST",
    path: "/events",
    json: event({ occurredAt: 1_795_000_000 }),
    status: 400,
    code: "validation_failed",
    fields: ["occurredAt"],
  },
  {
    name: "occurredAt an HTTP date",
    method: "POST",
    path: "/events",
    json: event({ occurredAt: "Thu, 26 Nov 2026 10:00:00 GMT" }),
    status: 400,
    code: "validation_failed",
    fields: ["occurredAt"],
  },
  {
    name: "data is an array",
    method: "POST",
    path: "/events",
    json: event({ data: [{ recordId: "rec_1" }] }),
    status: 400,
    code: "validation_failed",
    fields: ["data"],
  },
  { name: "data is a string", method: "POST", path: "/events", json: event({ data: "rec_1" }), status: 400, code: "validation_failed", fields: ["data"] },
  { name: "data is null", method: "POST", path: "/events", json: event({ data: null }), status: 400, code: "validation_failed", fields: ["data"] },
  {
    name: "data without recordId",
    method: "POST",
    path: "/events",
    json: event({ data: { title: "x" } }),
    status: 400,
    code: "validation_failed",
    fields: ["data.recordId"],
  },
  {
    name: "data.recordId a number",
    method: "POST",
    path: "/events",
    json: event({ data: { recordId: 8842 } }),
    status: 400,
    code: "validation_failed",
    fields: ["data.recordId"],
  },
  {
    name: "data.recordId empty",
    method: "POST",
    path: "/events",
    json: event({ data: { recordId: "" } }),
    status: 400,
    code: "validation_failed",
    fields: ["data.recordId"],
  },
  {
    name: "data.changes not an array",
    method: "POST",
    path: "/events",
    json: event({ type: "record.updated", data: { recordId: "r", changes: "owner" } }),
    status: 400,
    code: "validation_failed",
    fields: ["data.changes"],
  },
  {
    name: "data.sizeBytes negative",
    method: "POST",
    path: "/events",
    json: event({ type: "file.ingested", data: { fileId: "f", sizeBytes: -1 } }),
    status: 400,
    code: "validation_failed",
    fields: ["data.sizeBytes"],
  },
  {
    name: "data.recordsSynced fractional",
    method: "POST",
    path: "/events",
    json: event({ type: "sync.completed", data: { syncId: "s", recordsSynced: 1.5 } }),
    status: 400,
    code: "validation_failed",
    fields: ["data.recordsSynced"],
  },
  {
    name: "data.severity unknown",
    method: "POST",
    path: "/events",
    json: event({ type: "ai.insight.generated", data: { insightId: "i", severity: "critical" } }),
    status: 400,
    code: "validation_failed",
    fields: ["data.severity"],
  },
  {
    name: "data of another type (file data on record.created)",
    method: "POST",
    path: "/events",
    json: event({ data: { fileId: "fil_1" } }),
    status: 400,
    code: "validation_failed",
    fields: ["data.recordId"],
  },
  {
    name: "data over 256 KiB",
    method: "POST",
    path: "/events",
    json: event({ data: bigData(256 * KIB) }),
    status: 413,
    code: "payload_too_large",
    fields: ["data"],
  },
  {
    name: "data over 256 KiB in bytes, not in characters",
    method: "POST",
    path: "/events",
    json: event({ data: { recordId: "r", note: "é".repeat(140_000) } }),
    status: 413,
    code: "payload_too_large",
    fields: ["data"],
  },
  // Batches.
  {
    name: "batch: events not an array",
    method: "POST",
    path: "/events",
    json: { events: event() },
    status: 400,
    code: "validation_failed",
    fields: ["events"],
  },
  { name: "batch: events null", method: "POST", path: "/events", json: { events: null }, status: 400, code: "validation_failed", fields: ["events"] },
  { name: "batch: empty", method: "POST", path: "/events", json: { events: [] }, status: 400, code: "validation_failed", fields: ["events"] },
  {
    name: "batch: 101 events",
    method: "POST",
    path: "/events",
    json: batch(101),
    status: 400,
    code: "validation_failed",
    fields: ["events"],
    message: /at most 100 events \(got 101\)/,
  },
  {
    name: "batch: an extra field beside events",
    method: "POST",
    path: "/events",
    json: { ...batch(1), source: "core" },
    status: 400,
    code: "validation_failed",
    fields: ["source"],
  },
  {
    name: "batch: events beside a single event's fields",
    method: "POST",
    path: "/events",
    json: { ...event(), ...batch(1) },
    status: 400,
    code: "validation_failed",
    fields: ["type", "tenantId", "data"],
  },
  {
    name: "batch: events[2] a string",
    method: "POST",
    path: "/events",
    json: { events: [event(), event(), "record.created"] },
    status: 400,
    code: "validation_failed",
    fields: ["events[2]"],
  },
  {
    name: "batch: events[1] null",
    method: "POST",
    path: "/events",
    json: { events: [event(), null] },
    status: 400,
    code: "validation_failed",
    fields: ["events[1]"],
  },
  {
    name: "batch: events[3].type unknown",
    method: "POST",
    path: "/events",
    json: batch(5, (i) => (i === 3 ? { type: "record.archived" } : {})),
    status: 400,
    code: "unknown_event_type",
    fields: ["events[3].type"],
    message: KNOWN_TYPES,
  },
  {
    name: "batch: events[4] without type",
    method: "POST",
    path: "/events",
    json: { events: [event(), event(), event(), event(), without("type")] },
    status: 400,
    code: "validation_failed",
    fields: ["events[4].type"],
  },
  {
    name: "batch: events[1].data.recordId missing",
    method: "POST",
    path: "/events",
    json: batch(3, (i) => (i === 1 ? { data: {} } : {})),
    status: 400,
    code: "validation_failed",
    fields: ["events[1].data.recordId"],
  },
  {
    name: "batch: events[0] with an unknown field",
    method: "POST",
    path: "/events",
    json: batch(2, (i) => (i === 0 ? { extra: true } : {})),
    status: 400,
    code: "validation_failed",
    fields: ["events[0].extra"],
  },
  {
    name: "batch: events[2].tenantId bad",
    method: "POST",
    path: "/events",
    json: batch(3, (i) => (i === 2 ? { tenantId: "acct bad" } : {})),
    status: 400,
    code: "validation_failed",
    fields: ["events[2].tenantId"],
  },
  {
    name: "batch: events[1].occurredAt bad",
    method: "POST",
    path: "/events",
    json: batch(2, (i) => (i === 1 ? { occurredAt: "2026-02-30T10:00:00Z" } : {})),
    status: 400,
    code: "validation_failed",
    fields: ["events[1].occurredAt"],
  },
  {
    name: "batch: duplicate ids",
    method: "POST",
    path: "/events",
    json: batch(5, (i) => ({ id: i === 0 || i === 4 ? "evt_dup" : `evt_${i}` })),
    status: 400,
    code: "validation_failed",
    fields: ["events[4].id"],
    message: /repeats the id of events\[0\]/,
  },
  {
    name: "batch: events[99] with data over 256 KiB",
    method: "POST",
    path: "/events",
    json: batch(100, (i) => (i === 99 ? { data: bigData(257 * KIB) } : {})),
    status: 413,
    code: "payload_too_large",
    fields: ["events[99].data"],
  },
  {
    name: "whole body over 1 MiB (each event under 256 KiB)",
    method: "POST",
    path: "/events",
    json: batch(5, () => ({ data: bigData(220 * KIB) })),
    status: 413,
    code: "payload_too_large",
    fields: ["(body)"],
  },
  // Transport.
  { name: "no bearer token", method: "POST", path: "/events", json: event(), token: null, status: 401, code: "unauthorized", fields: [] },
  { name: "a wrong bearer token", method: "POST", path: "/events", json: event(), token: "not-the-token", status: 401, code: "unauthorized", fields: [] },
  { name: "GET is not allowed", method: "GET", path: "/events", status: 405, code: "method_not_allowed", fields: [] },
  { name: "PUT is not allowed", method: "PUT", path: "/events", json: event(), status: 405, code: "method_not_allowed", fields: [] },
  { name: "DELETE is not allowed", method: "DELETE", path: "/events", status: 405, code: "method_not_allowed", fields: [] },
  // Hardening (issue 12): what used to answer 500, or was silently changed.
  {
    name: "data nested 5,000 levels",
    method: "POST",
    path: "/events",
    raw: nestedEvent(5_000),
    status: 400,
    code: "validation_failed",
    fields: ["data"],
    message: /at most 64 levels/,
  },
  {
    name: "data nested 65 levels (one more than allowed)",
    method: "POST",
    path: "/events",
    raw: nestedEvent(64),
    status: 400,
    code: "validation_failed",
    fields: ["data"],
  },
  {
    name: "data nested 200,000 levels in events[1] of a batch",
    method: "POST",
    path: "/events",
    raw: `{"events":[${JSON.stringify(event())},${nestedEvent(200_000)}]}`,
    status: 400,
    code: "validation_failed",
    fields: ["events[1].data"],
  },
  {
    name: "a number beyond double precision (1e400)",
    method: "POST",
    path: "/events",
    raw: `{"type":"record.created","tenantId":"${TENANT}","data":{"recordId":"rec_1","amount":1e400}}`,
    status: 400,
    code: "validation_failed",
    fields: ["data"],
  },
  {
    name: "bytes that are not UTF-8 (0xFF 0xFE)",
    method: "POST",
    path: "/events",
    bytes: utf8With([0xff, 0xfe]),
    status: 400,
    code: "invalid_encoding",
    fields: ["(body)"],
  },
  {
    name: "a surrogate encoded in UTF-8 bytes (ED A0 80)",
    method: "POST",
    path: "/events",
    bytes: utf8With([0xed, 0xa0, 0x80]),
    status: 400,
    code: "invalid_encoding",
    fields: ["(body)"],
  },
  {
    name: "a truncated UTF-8 sequence (E2 82)",
    method: "POST",
    path: "/events",
    bytes: utf8With([0xe2, 0x82]),
    status: 400,
    code: "invalid_encoding",
    fields: ["(body)"],
  },
  {
    name: "content-type text/plain",
    method: "POST",
    path: "/events",
    json: event(),
    headers: { "content-type": "text/plain" },
    status: 415,
    code: "unsupported_media_type",
    fields: ["content-type"],
  },
  {
    name: "content-type form-urlencoded (curl's default)",
    method: "POST",
    path: "/events",
    json: event(),
    headers: { "content-type": "application/x-www-form-urlencoded" },
    status: 415,
    code: "unsupported_media_type",
    fields: ["content-type"],
  },
  {
    name: "no content-type",
    method: "POST",
    path: "/events",
    json: event(),
    headers: { "content-type": null },
    status: 415,
    code: "unsupported_media_type",
    fields: ["content-type"],
  },
  {
    name: "content-type JSON in latin1",
    method: "POST",
    path: "/events",
    json: event(),
    headers: { "content-type": "application/json; charset=iso-8859-1" },
    status: 415,
    code: "unsupported_media_type",
    fields: ["content-type"],
  },
  {
    name: "content-type text/plain and bytes that are not UTF-8",
    method: "POST",
    path: "/events",
    bytes: utf8With([0xff]),
    headers: { "content-type": "text/plain" },
    status: 415,
    code: "unsupported_media_type",
    fields: ["content-type"],
  },
];

/** POST /tenants/{t}/webhooks, and the tenant id in every path. */
const createRows: Row[] = [
  { name: "malformed JSON", method: "POST", path: `/tenants/${TENANT}/webhooks`, raw: '{"url": ', status: 400, code: "invalid_json", fields: ["(body)"] },
  { name: "empty body", method: "POST", path: `/tenants/${TENANT}/webhooks`, raw: "", status: 400, code: "validation_failed", fields: ["url", "eventTypes"] },
  { name: "a JSON array", method: "POST", path: `/tenants/${TENANT}/webhooks`, json: [hook], status: 400, code: "validation_failed", fields: ["(body)"] },
  {
    name: "a JSON string",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: "https://example.com/hooks",
    status: 400,
    code: "validation_failed",
    fields: ["(body)"],
  },
  { name: "JSON null", method: "POST", path: `/tenants/${TENANT}/webhooks`, json: null, status: 400, code: "validation_failed", fields: ["(body)"] },
  { name: "no url", method: "POST", path: `/tenants/${TENANT}/webhooks`, json: { eventTypes: ["*"] }, status: 400, code: "validation_failed", fields: ["url"] },
  {
    name: "url a number",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, url: 443 },
    status: 400,
    code: "validation_failed",
    fields: ["url"],
  },
  {
    name: "url empty",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, url: "" },
    status: 400,
    code: "validation_failed",
    fields: ["url"],
  },
  {
    name: "url blank",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, url: "   " },
    status: 400,
    code: "validation_failed",
    fields: ["url"],
  },
  {
    name: "url relative",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, url: "/hooks" },
    status: 400,
    code: "validation_failed",
    fields: ["url"],
  },
  {
    name: "url not a URL",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, url: "example dot com" },
    status: 400,
    code: "validation_failed",
    fields: ["url"],
  },
  {
    name: "url ftp:",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, url: "ftp://example.com/hooks" },
    status: 400,
    code: "validation_failed",
    fields: ["url"],
  },
  {
    name: "url javascript:",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, url: "javascript:alert(1)" },
    status: 400,
    code: "validation_failed",
    fields: ["url"],
  },
  {
    name: "url file:",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, url: "file:///etc/passwd" },
    status: 400,
    code: "validation_failed",
    fields: ["url"],
  },
  {
    name: "url with credentials (refused even when private endpoints are allowed)",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, url: "https://user:pw@example.com/" },
    status: 400,
    code: "validation_failed",
    fields: ["url"],
    message: /credentials/,
  },
  {
    name: "url over 2048 characters",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, url: `https://example.com/${"a".repeat(2_029)}` },
    status: 400,
    code: "validation_failed",
    fields: ["url"],
    message: /2048/,
  },
  {
    name: "no eventTypes",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { url: hook.url },
    status: 400,
    code: "validation_failed",
    fields: ["eventTypes"],
  },
  {
    name: "eventTypes empty",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, eventTypes: [] },
    status: 400,
    code: "validation_failed",
    fields: ["eventTypes"],
  },
  {
    name: "eventTypes a string",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, eventTypes: "*" },
    status: 400,
    code: "validation_failed",
    fields: ["eventTypes"],
  },
  {
    name: "eventTypes[0] a number",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, eventTypes: [1] },
    status: 400,
    code: "validation_failed",
    fields: ["eventTypes[0]"],
  },
  {
    name: "eventTypes[1] empty",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, eventTypes: ["record.created", ""] },
    status: 400,
    code: "validation_failed",
    fields: ["eventTypes[1]"],
  },
  {
    name: "eventTypes[1] unknown",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, eventTypes: ["record.created", "record.deleted"] },
    status: 400,
    code: "unknown_event_type",
    fields: ["eventTypes[1]"],
    message: KNOWN_TYPES,
  },
  {
    name: "eventTypes: an unknown family",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, eventTypes: ["invoice.*"] },
    status: 400,
    code: "unknown_event_type",
    fields: ["eventTypes[0]"],
    message: KNOWN_TYPES,
  },
  {
    name: "eventTypes: two unknown",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, eventTypes: ["recrod.created", "*", "file.uploaded"] },
    status: 400,
    code: "unknown_event_type",
    fields: ["eventTypes[0]", "eventTypes[2]"],
  },
  {
    name: "eventTypes: 51 entries",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, eventTypes: Array(51).fill("record.created") },
    status: 400,
    code: "validation_failed",
    fields: ["eventTypes"],
  },
  {
    name: "description over 500 characters",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, description: "d".repeat(501) },
    status: 400,
    code: "validation_failed",
    fields: ["description"],
    message: /500/,
  },
  {
    name: "description a number",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, description: 5 },
    status: 400,
    code: "validation_failed",
    fields: ["description"],
  },
  {
    name: "enabled a string",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, enabled: "true" },
    status: 400,
    code: "validation_failed",
    fields: ["enabled"],
  },
  // Endpoint health (docs/delivery-semantics.md): rateLimit 1–1,000 deliveries per second, paused a boolean.
  {
    name: "rateLimit 0",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, rateLimit: 0 },
    status: 400,
    code: "validation_failed",
    fields: ["rateLimit"],
    message: /at least 1/,
  },
  {
    name: "rateLimit negative",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, rateLimit: -5 },
    status: 400,
    code: "validation_failed",
    fields: ["rateLimit"],
  },
  {
    name: "rateLimit 10^9",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, rateLimit: 1e9 },
    status: 400,
    code: "validation_failed",
    fields: ["rateLimit"],
    message: /at most 1000/,
  },
  {
    name: "rateLimit 1001",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, rateLimit: 1_001 },
    status: 400,
    code: "validation_failed",
    fields: ["rateLimit"],
  },
  {
    name: "rateLimit fractional",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, rateLimit: 1.5 },
    status: 400,
    code: "validation_failed",
    fields: ["rateLimit"],
    message: /whole number/,
  },
  {
    name: "rateLimit a string",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, rateLimit: "5" },
    status: 400,
    code: "validation_failed",
    fields: ["rateLimit"],
  },
  {
    name: "rateLimit null (no limit is its absence)",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, rateLimit: null },
    status: 400,
    code: "validation_failed",
    fields: ["rateLimit"],
  },
  {
    name: "paused a string",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, paused: "true" },
    status: 400,
    code: "validation_failed",
    fields: ["paused"],
    message: /true or false/,
  },
  {
    name: "paused a number",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, paused: 1 },
    status: 400,
    code: "validation_failed",
    fields: ["paused"],
  },
  {
    name: "paused and rateLimit both wrong",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, paused: "no", rateLimit: 0 },
    status: 400,
    code: "validation_failed",
    fields: ["paused", "rateLimit"],
  },
  {
    name: "a secret supplied by the caller",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, secret: "whsec_AAAA" },
    status: 400,
    code: "validation_failed",
    fields: ["secret"],
  },
  {
    name: "an id supplied by the caller",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { ...hook, id: W },
    status: 400,
    code: "validation_failed",
    fields: ["id"],
  },
  {
    name: "several bad fields at once",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: { url: 1, eventTypes: [], enabled: 0 },
    status: 400,
    code: "validation_failed",
    fields: ["url", "eventTypes", "enabled"],
  },
  { name: "no bearer token", method: "POST", path: `/tenants/${TENANT}/webhooks`, json: hook, token: null, status: 401, code: "unauthorized", fields: [] },
  // The tenant id of the path.
  {
    name: "tenant id with a space",
    method: "POST",
    path: "/tenants/acct%20bad/webhooks",
    json: hook,
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  {
    name: "tenant id with an encoded slash",
    method: "POST",
    path: "/tenants/acct%2Fbad/webhooks",
    json: hook,
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  { name: "tenant id with a #", method: "GET", path: "/tenants/acct%23bad/webhooks", status: 400, code: "validation_failed", fields: ["tenantId"] },
  { name: "tenant id starting with -", method: "GET", path: "/tenants/-acct/webhooks", status: 400, code: "validation_failed", fields: ["tenantId"] },
  {
    name: "tenant id of 129 characters",
    method: "GET",
    path: `/tenants/${"t".repeat(129)}/webhooks`,
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  { name: "tenant id non-ASCII", method: "GET", path: "/tenants/%C3%A4cct/webhooks", status: 400, code: "validation_failed", fields: ["tenantId"] },
  { name: "bad tenant id on GET one", method: "GET", path: "/tenants/acct%20bad/webhooks/{A}", status: 400, code: "validation_failed", fields: ["tenantId"] },
  {
    name: "bad tenant id on PATCH",
    method: "PATCH",
    path: "/tenants/acct%20bad/webhooks/{A}",
    json: { enabled: false },
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  { name: "bad tenant id on DELETE", method: "DELETE", path: "/tenants/acct%20bad/webhooks/{A}", status: 400, code: "validation_failed", fields: ["tenantId"] },
  {
    name: "bad tenant id on rotate-secret",
    method: "POST",
    path: "/tenants/acct%20bad/webhooks/{A}/rotate-secret",
    json: {},
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  {
    name: "bad tenant id on test",
    method: "POST",
    path: "/tenants/acct%20bad/webhooks/{A}/test",
    json: {},
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  {
    name: "bad tenant id on deliveries",
    method: "GET",
    path: "/tenants/acct%20bad/webhooks/{A}/deliveries",
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  {
    name: "bad tenant id on replay",
    method: "POST",
    path: "/tenants/acct%20bad/webhooks/{A}/replay",
    json: { since: "2026-01-01T00:00:00Z" },
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  {
    name: "tenant id with a malformed percent-encoding",
    method: "GET",
    path: "/tenants/%E0%A4%A/webhooks",
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  // Listing webhooks.
  { name: "list: limit 0", method: "GET", path: `/tenants/${TENANT}/webhooks?limit=0`, status: 400, code: "validation_failed", fields: ["limit"] },
  { name: "list: limit 101", method: "GET", path: `/tenants/${TENANT}/webhooks?limit=101`, status: 400, code: "validation_failed", fields: ["limit"] },
  { name: "list: limit abc", method: "GET", path: `/tenants/${TENANT}/webhooks?limit=abc`, status: 400, code: "validation_failed", fields: ["limit"] },
  {
    name: "list: a cursor this API never returned",
    method: "GET",
    path: `/tenants/${TENANT}/webhooks?cursor=page2`,
    status: 400,
    code: "validation_failed",
    fields: ["cursor"],
  },
  {
    name: "list: an unknown query parameter",
    method: "GET",
    path: `/tenants/${TENANT}/webhooks?enabled=true`,
    status: 400,
    code: "validation_failed",
    fields: ["enabled"],
  },
];

/** The URLs the SSRF guard refuses when private endpoints are not allowed (docs/security.md). */
const ssrfUrls: [string, string][] = [
  ["loopback", "https://127.0.0.1/"],
  ["loopback with a port", "https://127.0.0.1:8443/hooks"],
  ["plain http", "http://example.com/hooks"],
  ["credentials", "https://user:pw@example.com/"],
  ["user without a password", "https://user@example.com/"],
  ["instance metadata", "https://169.254.169.254/latest/meta-data/"],
  ["localhost", "https://localhost/hooks"],
  ["LOCALHOST with a trailing dot", "https://LOCALHOST./hooks"],
  ["a *.localhost name", "https://api.localhost/hooks"],
  ["IPv6 loopback", "https://[::1]/hooks"],
  ["IPv4-mapped IPv6 loopback", "https://[::ffff:127.0.0.1]/hooks"],
  ["IPv4-mapped metadata address", "https://[::ffff:a9fe:a9fe]/"],
  ["private 10/8", "https://10.0.0.1/"],
  ["private 172.16/12", "https://172.16.5.4/"],
  ["private 192.168/16", "https://192.168.1.1/"],
  ["CGNAT", "https://100.64.0.1/"],
  ["multicast", "https://224.0.0.1/"],
  ["unspecified", "https://0.0.0.0/"],
  ["hex loopback", "https://0x7f.1/"],
  ["decimal loopback", "https://2130706433/"],
  ["IPv6 link-local", "https://[fe80::1]/"],
  ["IPv6 unique local", "https://[fd00::1]/"],
];

const ssrfRows: Row[] = [
  ...ssrfUrls.map(
    ([what, url]): Row => ({
      name: `SSRF guard on create: ${what} (${url})`,
      method: "POST",
      path: `/tenants/${STRICT_TENANT}/webhooks`,
      json: { url, eventTypes: ["*"] },
      strict: true,
      status: 400,
      code: "validation_failed",
      fields: ["url"],
    }),
  ),
  ...[ssrfUrls[0], ssrfUrls[2], ssrfUrls[3], ssrfUrls[5], ssrfUrls[10]].map(
    ([what, url]): Row => ({
      name: `SSRF guard on PATCH: ${what} (${url})`,
      method: "PATCH",
      path: `/tenants/${STRICT_TENANT}/webhooks/{S}`,
      json: { url },
      strict: true,
      status: 400,
      code: "validation_failed",
      fields: ["url"],
    }),
  ),
];

/** One webhook: GET, PATCH, DELETE, rotate-secret, test. */
const webhookRows: Row[] = [
  { name: "GET an unknown webhook", method: "GET", path: `/tenants/${TENANT}/webhooks/${W}`, status: 404, code: "not_found", fields: [] },
  { name: "GET a malformed webhook id", method: "GET", path: `/tenants/${TENANT}/webhooks/wh_123`, status: 404, code: "not_found", fields: [] },
  { name: "GET a delivery id as webhook id", method: "GET", path: `/tenants/${TENANT}/webhooks/${D}`, status: 404, code: "not_found", fields: [] },
  { name: "GET another tenant's webhook", method: "GET", path: `/tenants/${TENANT}/webhooks/{B}`, status: 404, code: "not_found", fields: [] },
  { name: "GET own webhook through another tenant", method: "GET", path: `/tenants/${OTHER}/webhooks/{A}`, status: 404, code: "not_found", fields: [] },
  {
    name: "webhook id with a malformed percent-encoding",
    method: "GET",
    path: `/tenants/${TENANT}/webhooks/%ZZ`,
    status: 404,
    code: "not_found",
    fields: [],
  },
  {
    name: "PATCH another tenant's webhook",
    method: "PATCH",
    path: `/tenants/${TENANT}/webhooks/{B}`,
    json: { enabled: false },
    status: 404,
    code: "not_found",
    fields: [],
  },
  {
    name: "PATCH an unknown webhook",
    method: "PATCH",
    path: `/tenants/${TENANT}/webhooks/${W}`,
    json: { enabled: false },
    status: 404,
    code: "not_found",
    fields: [],
  },
  { name: "DELETE another tenant's webhook", method: "DELETE", path: `/tenants/${TENANT}/webhooks/{B}`, status: 404, code: "not_found", fields: [] },
  { name: "DELETE an unknown webhook", method: "DELETE", path: `/tenants/${TENANT}/webhooks/${W}`, status: 404, code: "not_found", fields: [] },
  { name: "DELETE a malformed webhook id", method: "DELETE", path: `/tenants/${TENANT}/webhooks/not-an-id`, status: 404, code: "not_found", fields: [] },
  { name: "PATCH: malformed JSON", method: "PATCH", path: A, raw: "{enabled: false}", status: 400, code: "invalid_json", fields: ["(body)"] },
  { name: "PATCH: empty body", method: "PATCH", path: A, raw: "", status: 400, code: "validation_failed", fields: ["(body)"] },
  { name: "PATCH: nothing to change", method: "PATCH", path: A, json: {}, status: 400, code: "validation_failed", fields: ["(body)"] },
  { name: "PATCH: a JSON array", method: "PATCH", path: A, json: [{ enabled: false }], status: 400, code: "validation_failed", fields: ["(body)"] },
  { name: "PATCH: JSON null", method: "PATCH", path: A, json: null, status: 400, code: "validation_failed", fields: ["(body)"] },
  { name: "PATCH: url relative", method: "PATCH", path: A, json: { url: "hooks" }, status: 400, code: "validation_failed", fields: ["url"] },
  { name: "PATCH: url null", method: "PATCH", path: A, json: { url: null }, status: 400, code: "validation_failed", fields: ["url"] },
  {
    name: "PATCH: url over 2048 characters",
    method: "PATCH",
    path: A,
    json: { url: `https://example.com/${"p".repeat(2_100)}` },
    status: 400,
    code: "validation_failed",
    fields: ["url"],
  },
  { name: "PATCH: eventTypes empty", method: "PATCH", path: A, json: { eventTypes: [] }, status: 400, code: "validation_failed", fields: ["eventTypes"] },
  {
    name: "PATCH: eventTypes[1] unknown (and a valid url that must not be saved)",
    method: "PATCH",
    path: A,
    json: { url: "https://example.org/new", eventTypes: ["*", "nope.*"] },
    status: 400,
    code: "unknown_event_type",
    fields: ["eventTypes[1]"],
    message: KNOWN_TYPES,
  },
  { name: "PATCH: enabled a string", method: "PATCH", path: A, json: { enabled: "false" }, status: 400, code: "validation_failed", fields: ["enabled"] },
  {
    name: "PATCH: description over 500 characters",
    method: "PATCH",
    path: A,
    json: { description: "d".repeat(501) },
    status: 400,
    code: "validation_failed",
    fields: ["description"],
  },
  {
    name: "PATCH: rateLimit 0",
    method: "PATCH",
    path: A,
    json: { rateLimit: 0 },
    status: 400,
    code: "validation_failed",
    fields: ["rateLimit"],
    message: /at least 1/,
  },
  { name: "PATCH: rateLimit negative", method: "PATCH", path: A, json: { rateLimit: -1 }, status: 400, code: "validation_failed", fields: ["rateLimit"] },
  {
    name: "PATCH: rateLimit 10^9",
    method: "PATCH",
    path: A,
    json: { rateLimit: 1e9 },
    status: 400,
    code: "validation_failed",
    fields: ["rateLimit"],
    message: /at most 1000/,
  },
  { name: "PATCH: rateLimit fractional", method: "PATCH", path: A, json: { rateLimit: 2.5 }, status: 400, code: "validation_failed", fields: ["rateLimit"] },
  { name: "PATCH: rateLimit a string", method: "PATCH", path: A, json: { rateLimit: "10/s" }, status: 400, code: "validation_failed", fields: ["rateLimit"] },
  {
    name: "PATCH: rateLimit an object",
    method: "PATCH",
    path: A,
    json: { rateLimit: { perSecond: 5 } },
    status: 400,
    code: "validation_failed",
    fields: ["rateLimit"],
  },
  {
    name: "PATCH: paused a string",
    method: "PATCH",
    path: A,
    json: { paused: "true" },
    status: 400,
    code: "validation_failed",
    fields: ["paused"],
    message: /true or false/,
  },
  { name: "PATCH: paused a number", method: "PATCH", path: A, json: { paused: 0 }, status: 400, code: "validation_failed", fields: ["paused"] },
  { name: "PATCH: paused null", method: "PATCH", path: A, json: { paused: null }, status: 400, code: "validation_failed", fields: ["paused"] },
  {
    name: "PATCH: a valid pause beside a bad rateLimit (the pause must not be saved)",
    method: "PATCH",
    path: A,
    json: { paused: true, rateLimit: 0 },
    status: 400,
    code: "validation_failed",
    fields: ["rateLimit"],
  },
  {
    name: "PATCH: health is read-only",
    method: "PATCH",
    path: A,
    json: { health: { state: "closed" } },
    status: 400,
    code: "validation_failed",
    fields: ["health"],
  },
  {
    name: "PATCH: a read-only field",
    method: "PATCH",
    path: A,
    json: { enabled: false, tenantId: OTHER },
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  { name: "PATCH: only an unknown field", method: "PATCH", path: A, json: { secrets: [] }, status: 400, code: "validation_failed", fields: ["secrets"] },
  {
    name: "rotate-secret: graceSeconds over 7 days",
    method: "POST",
    path: `${A}/rotate-secret`,
    json: { graceSeconds: 604_801 },
    status: 400,
    code: "validation_failed",
    fields: ["graceSeconds"],
    message: /604800/,
  },
  {
    name: "rotate-secret: graceSeconds negative",
    method: "POST",
    path: `${A}/rotate-secret`,
    json: { graceSeconds: -1 },
    status: 400,
    code: "validation_failed",
    fields: ["graceSeconds"],
  },
  {
    name: "rotate-secret: graceSeconds fractional",
    method: "POST",
    path: `${A}/rotate-secret`,
    json: { graceSeconds: 1.5 },
    status: 400,
    code: "validation_failed",
    fields: ["graceSeconds"],
  },
  {
    name: "rotate-secret: graceSeconds a string",
    method: "POST",
    path: `${A}/rotate-secret`,
    json: { graceSeconds: "3600" },
    status: 400,
    code: "validation_failed",
    fields: ["graceSeconds"],
  },
  {
    name: "rotate-secret: graceSeconds null",
    method: "POST",
    path: `${A}/rotate-secret`,
    json: { graceSeconds: null },
    status: 400,
    code: "validation_failed",
    fields: ["graceSeconds"],
  },
  {
    name: "rotate-secret: an unknown field",
    method: "POST",
    path: `${A}/rotate-secret`,
    json: { grace: 60 },
    status: 400,
    code: "validation_failed",
    fields: ["grace"],
  },
  {
    name: "rotate-secret: a secret supplied by the caller",
    method: "POST",
    path: `${A}/rotate-secret`,
    json: { secret: "whsec_AAAA" },
    status: 400,
    code: "validation_failed",
    fields: ["secret"],
  },
  {
    name: "rotate-secret: malformed JSON",
    method: "POST",
    path: `${A}/rotate-secret`,
    raw: "{graceSeconds: 60}",
    status: 400,
    code: "invalid_json",
    fields: ["(body)"],
  },
  { name: "rotate-secret: a JSON array", method: "POST", path: `${A}/rotate-secret`, json: [], status: 400, code: "validation_failed", fields: ["(body)"] },
  { name: "rotate-secret: JSON null", method: "POST", path: `${A}/rotate-secret`, json: null, status: 400, code: "validation_failed", fields: ["(body)"] },
  {
    name: "rotate-secret: another tenant's webhook",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks/{B}/rotate-secret`,
    json: {},
    status: 404,
    code: "not_found",
    fields: [],
  },
  {
    name: "rotate-secret: an unknown webhook",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks/${W}/rotate-secret`,
    json: {},
    status: 404,
    code: "not_found",
    fields: [],
  },
  {
    name: "test: unknown type",
    method: "POST",
    path: `${A}/test`,
    json: { type: "record.deleted" },
    status: 400,
    code: "unknown_event_type",
    fields: ["type"],
    message: KNOWN_TYPES,
  },
  {
    name: "test: a wildcard type",
    method: "POST",
    path: `${A}/test`,
    json: { type: "*" },
    status: 400,
    code: "unknown_event_type",
    fields: ["type"],
    message: KNOWN_TYPES,
  },
  { name: "test: type a number", method: "POST", path: `${A}/test`, json: { type: 1 }, status: 400, code: "validation_failed", fields: ["type"] },
  {
    name: "test: an unknown field",
    method: "POST",
    path: `${A}/test`,
    json: { data: { recordId: "x" } },
    status: 400,
    code: "validation_failed",
    fields: ["data"],
  },
  { name: "test: malformed JSON", method: "POST", path: `${A}/test`, raw: "{", status: 400, code: "invalid_json", fields: ["(body)"] },
  { name: "test: a JSON string", method: "POST", path: `${A}/test`, json: "record.created", status: 400, code: "validation_failed", fields: ["(body)"] },
  { name: "test: JSON null", method: "POST", path: `${A}/test`, json: null, status: 400, code: "validation_failed", fields: ["(body)"] },
  {
    name: "test: another tenant's webhook",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks/{B}/test`,
    json: {},
    status: 404,
    code: "not_found",
    fields: [],
  },
  { name: "test: an unknown webhook", method: "POST", path: `/tenants/${TENANT}/webhooks/${W}/test`, json: {}, status: 404, code: "not_found", fields: [] },
];

/** The delivery log, retry and replay. */
const deliveryRows: Row[] = [
  { name: "deliveries: limit 0", method: "GET", path: `${A}/deliveries?limit=0`, status: 400, code: "validation_failed", fields: ["limit"] },
  { name: "deliveries: limit 101", method: "GET", path: `${A}/deliveries?limit=101`, status: 400, code: "validation_failed", fields: ["limit"] },
  { name: "deliveries: limit abc", method: "GET", path: `${A}/deliveries?limit=abc`, status: 400, code: "validation_failed", fields: ["limit"] },
  { name: "deliveries: limit fractional", method: "GET", path: `${A}/deliveries?limit=2.5`, status: 400, code: "validation_failed", fields: ["limit"] },
  { name: "deliveries: limit negative", method: "GET", path: `${A}/deliveries?limit=-5`, status: 400, code: "validation_failed", fields: ["limit"] },
  { name: "deliveries: limit empty", method: "GET", path: `${A}/deliveries?limit=`, status: 400, code: "validation_failed", fields: ["limit"] },
  {
    name: "deliveries: limit given twice",
    method: "GET",
    path: `${A}/deliveries?limit=10&limit=20`,
    status: 400,
    code: "validation_failed",
    fields: ["limit"],
  },
  {
    name: "deliveries: unknown status",
    method: "GET",
    path: `${A}/deliveries?status=bounced`,
    status: 400,
    code: "validation_failed",
    fields: ["status"],
    message: /pending, succeeded, failed, skipped/,
  },
  { name: "deliveries: status in capitals", method: "GET", path: `${A}/deliveries?status=FAILED`, status: 400, code: "validation_failed", fields: ["status"] },
  {
    name: "deliveries: an unknown query parameter",
    method: "GET",
    path: `${A}/deliveries?since=2026-01-01T00:00:00Z`,
    status: 400,
    code: "validation_failed",
    fields: ["since"],
  },
  {
    name: "deliveries: a garbage cursor",
    method: "GET",
    path: `${A}/deliveries?cursor=not-a-cursor`,
    status: 400,
    code: "validation_failed",
    fields: ["cursor"],
  },
  {
    name: "deliveries: another tenant's webhook's cursor",
    method: "GET",
    path: `${A}/deliveries?cursor={C_FOREIGN}`,
    status: 400,
    code: "validation_failed",
    fields: ["cursor"],
  },
  {
    name: "deliveries: a cursor whose key names no delivery id",
    method: "GET",
    path: `${A}/deliveries?cursor={C_NOT_A_DELIVERY}`,
    status: 400,
    code: "validation_failed",
    fields: ["cursor"],
  },
  {
    name: "deliveries: a cursor with a delivery id beyond the last ULID time",
    method: "GET",
    path: `${A}/deliveries?cursor={C_BEYOND_TIME}`,
    status: 400,
    code: "validation_failed",
    fields: ["cursor"],
  },
  {
    name: "deliveries: a cursor whose key extends this webhook's",
    method: "GET",
    path: `${A}/deliveries?cursor={C_LONGER_KEY}`,
    status: 400,
    code: "validation_failed",
    fields: ["cursor"],
  },
  {
    name: "deliveries: another tenant's webhook",
    method: "GET",
    path: `/tenants/${TENANT}/webhooks/{B}/deliveries`,
    status: 404,
    code: "not_found",
    fields: [],
  },
  { name: "deliveries: an unknown webhook", method: "GET", path: `/tenants/${TENANT}/webhooks/${W}/deliveries`, status: 404, code: "not_found", fields: [] },
  { name: "delivery: unknown id", method: "GET", path: `${A}/deliveries/${D}`, status: 404, code: "not_found", fields: [] },
  { name: "delivery: malformed id", method: "GET", path: `${A}/deliveries/dlv_1`, status: 404, code: "not_found", fields: [] },
  { name: "delivery: a webhook id as delivery id", method: "GET", path: `${A}/deliveries/${W}`, status: 404, code: "not_found", fields: [] },
  {
    name: "delivery: under another tenant's webhook",
    method: "GET",
    path: `/tenants/${TENANT}/webhooks/{B}/deliveries/${D}`,
    status: 404,
    code: "not_found",
    fields: [],
  },
  { name: "retry: unknown delivery id", method: "POST", path: `${A}/deliveries/${D}/retry`, status: 404, code: "not_found", fields: [] },
  { name: "retry: malformed delivery id", method: "POST", path: `${A}/deliveries/12345/retry`, status: 404, code: "not_found", fields: [] },
  {
    name: "retry: another tenant's webhook",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks/{B}/deliveries/${D}/retry`,
    status: 404,
    code: "not_found",
    fields: [],
  },
  {
    name: "retry: an unknown webhook",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks/${W}/deliveries/${D}/retry`,
    status: 404,
    code: "not_found",
    fields: [],
  },
  { name: "replay: no since", method: "POST", path: `${A}/replay`, json: {}, status: 400, code: "validation_failed", fields: ["since"] },
  { name: "replay: empty body", method: "POST", path: `${A}/replay`, raw: "", status: 400, code: "validation_failed", fields: ["since"] },
  {
    name: "replay: since in words",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "last week" },
    status: 400,
    code: "validation_failed",
    fields: ["since"],
  },
  {
    name: "replay: since a date only",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "2026-11-01" },
    status: 400,
    code: "validation_failed",
    fields: ["since"],
  },
  {
    name: "replay: since unix seconds",
    method: "POST",
    path: `${A}/replay`,
    json: { since: 1_790_000_000 },
    status: 400,
    code: "validation_failed",
    fields: ["since"],
  },
  {
    name: "replay: until malformed",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "2026-11-01T00:00:00Z", until: "now" },
    status: 400,
    code: "validation_failed",
    fields: ["until"],
  },
  {
    name: "replay: since malformed, until valid",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "2026-11-31T00:00:00Z", until: "2026-12-01T00:00:00Z" },
    status: 400,
    code: "validation_failed",
    fields: ["since"],
  },
  {
    name: "replay: until before since",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "2026-11-02T00:00:00Z", until: "2026-11-01T00:00:00Z" },
    status: 400,
    code: "validation_failed",
    fields: ["until"],
    message: /after since/,
  },
  {
    name: "replay: cursor not one this API returned",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "2026-11-01T00:00:00Z", cursor: "nope" },
    status: 400,
    code: "validation_failed",
    fields: ["cursor"],
  },
  {
    name: "replay: cursor a number",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "2026-11-01T00:00:00Z", cursor: 5 },
    status: 400,
    code: "validation_failed",
    fields: ["cursor"],
  },
  {
    name: "replay: until equal to since",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "2026-11-02T00:00:00Z", until: "2026-11-02T00:00:00Z" },
    status: 400,
    code: "validation_failed",
    fields: ["until"],
  },
  {
    name: "replay: until before since across time zones",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "2026-11-02T00:00:00Z", until: "2026-11-02T00:30:00+01:00" },
    status: 400,
    code: "validation_failed",
    fields: ["until"],
  },
  {
    name: "replay: unknown status",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "2026-11-01T00:00:00Z", status: "all" },
    status: 400,
    code: "validation_failed",
    fields: ["status"],
  },
  {
    name: "replay: an unknown field",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "2026-11-01T00:00:00Z", limit: 10 },
    status: 400,
    code: "validation_failed",
    fields: ["limit"],
  },
  { name: "replay: malformed JSON", method: "POST", path: `${A}/replay`, raw: "since=2026-11-01", status: 400, code: "invalid_json", fields: ["(body)"] },
  {
    name: "replay: a JSON array",
    method: "POST",
    path: `${A}/replay`,
    json: ["2026-11-01T00:00:00Z"],
    status: 400,
    code: "validation_failed",
    fields: ["(body)"],
  },
  {
    name: "replay: another tenant's webhook",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks/{B}/replay`,
    json: { since: "2026-11-01T00:00:00Z" },
    status: 404,
    code: "not_found",
    fields: [],
  },
  {
    name: "replay: an unknown webhook",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks/${W}/replay`,
    json: { since: "2026-11-01T00:00:00Z" },
    status: 404,
    code: "not_found",
    fields: [],
  },
  {
    name: "replay: since in 2099",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "2099-01-01T00:00:00Z" },
    status: 400,
    code: "validation_failed",
    fields: ["since"],
    message: /future/,
  },
  {
    name: "replay: since and until in 2099",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "2099-01-01T00:00:00Z", until: "2099-02-01T00:00:00Z" },
    status: 400,
    code: "validation_failed",
    fields: ["since"],
  },
  {
    name: "replay: since before 1970",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "1969-12-31T23:59:59Z" },
    status: 400,
    code: "validation_failed",
    fields: ["since"],
    message: /1970/,
  },
  {
    name: "replay: since and until before 1970",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "1900-01-01T00:00:00Z", until: "1960-01-01T00:00:00Z" },
    status: 400,
    code: "validation_failed",
    fields: ["since", "until"],
  },
  {
    name: "replay: content-type text/plain",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "2026-11-01T00:00:00Z" },
    headers: { "content-type": "text/plain" },
    status: 415,
    code: "unsupported_media_type",
    fields: ["content-type"],
  },
];

/** Authentication, methods and routes. */
const transportRows: Row[] = [
  { name: "list without a token", method: "GET", path: `/tenants/${TENANT}/webhooks`, token: null, status: 401, code: "unauthorized", fields: [] },
  { name: "PATCH without a token", method: "PATCH", path: A, json: { enabled: false }, token: null, status: 401, code: "unauthorized", fields: [] },
  { name: "DELETE with a wrong token", method: "DELETE", path: A, token: "wrong", status: 401, code: "unauthorized", fields: [] },
  { name: "rotate-secret without a token", method: "POST", path: `${A}/rotate-secret`, json: {}, token: null, status: 401, code: "unauthorized", fields: [] },
  {
    name: "replay without a token",
    method: "POST",
    path: `${A}/replay`,
    json: { since: "2026-11-01T00:00:00Z" },
    token: null,
    status: 401,
    code: "unauthorized",
    fields: [],
  },
  { name: "event types without a token", method: "GET", path: "/event-types", token: null, status: 401, code: "unauthorized", fields: [] },
  { name: "redrive without a token", method: "POST", path: "/admin/redrive", token: null, status: 401, code: "unauthorized", fields: [] },
  { name: "queue depths without a token", method: "GET", path: "/admin/queues", token: null, status: 401, code: "unauthorized", fields: [] },
  { name: "queue depths with a portal token", method: "GET", path: "/admin/queues", token: "{P}", status: 401, code: "unauthorized", fields: [] },
  { name: "PUT a webhook", method: "PUT", path: A, json: hook, status: 405, code: "method_not_allowed", fields: [] },
  { name: "POST to a webhook", method: "POST", path: A, json: hook, status: 405, code: "method_not_allowed", fields: [] },
  { name: "DELETE the list", method: "DELETE", path: `/tenants/${TENANT}/webhooks`, status: 405, code: "method_not_allowed", fields: [] },
  { name: "GET rotate-secret", method: "GET", path: `${A}/rotate-secret`, status: 405, code: "method_not_allowed", fields: [] },
  { name: "GET test", method: "GET", path: `${A}/test`, status: 405, code: "method_not_allowed", fields: [] },
  { name: "GET replay", method: "GET", path: `${A}/replay`, status: 405, code: "method_not_allowed", fields: [] },
  { name: "POST the delivery log", method: "POST", path: `${A}/deliveries`, json: {}, status: 405, code: "method_not_allowed", fields: [] },
  { name: "DELETE a delivery", method: "DELETE", path: `${A}/deliveries/${D}`, status: 405, code: "method_not_allowed", fields: [] },
  { name: "GET retry", method: "GET", path: `${A}/deliveries/${D}/retry`, status: 405, code: "method_not_allowed", fields: [] },
  { name: "POST the catalogue", method: "POST", path: "/event-types", json: {}, status: 405, code: "method_not_allowed", fields: [] },
  { name: "GET redrive", method: "GET", path: "/admin/redrive", status: 405, code: "method_not_allowed", fields: [] },
  { name: "POST the queue depths", method: "POST", path: "/admin/queues", json: {}, status: 405, code: "method_not_allowed", fields: [] },
  { name: "an unknown route", method: "GET", path: `/tenants/${TENANT}/hooks`, status: 404, code: "route_not_found", fields: [] },
  { name: "a path one level too deep", method: "GET", path: `${A}/deliveries/${D}/attempts`, status: 404, code: "route_not_found", fields: [] },
  { name: "a trailing slash", method: "GET", path: `/tenants/${TENANT}/webhooks/`, status: 404, code: "route_not_found", fields: [] },
  {
    name: "create with content-type text/plain",
    method: "POST",
    path: `/tenants/${TENANT}/webhooks`,
    json: hook,
    headers: { "content-type": "text/plain" },
    status: 415,
    code: "unsupported_media_type",
    fields: ["content-type"],
  },
  {
    name: "an absolute request target with port 99999",
    method: "GET",
    path: "/health",
    target: "http://x:99999/health",
    token: null,
    status: 400,
    code: "invalid_request_target",
    fields: ["(request-target)"],
  },
  {
    name: "an absolute request target with port 99999 to an API route",
    method: "POST",
    path: "/events",
    target: "http://x:99999/events",
    json: event(),
    status: 400,
    code: "invalid_request_target",
    fields: ["(request-target)"],
  },
  {
    name: "a lower-case bearer with a wrong token",
    method: "GET",
    path: "/event-types",
    headers: { authorization: "bearer wrong" },
    status: 401,
    code: "unauthorized",
    fields: [],
  },
  {
    name: "a scheme other than bearer",
    method: "GET",
    path: "/event-types",
    headers: { authorization: "Basic {TOKEN}" },
    status: 401,
    code: "unauthorized",
    fields: [],
  },
];

/**
 * Portal sessions (docs/portal.md): creation by the core app, then the portal API's token checks.
 * {P} is a session of acct_bad, {P_RO} a read-only one, {P_OTHER} one of acct_other.
 */
const PS = `/tenants/${TENANT}/portal-sessions`;
const PA = `/portal/api/tenants/${TENANT}/webhooks`;
const portalRows: Row[] = [
  {
    name: "expiresInSeconds 0",
    method: "POST",
    path: PS,
    json: { expiresInSeconds: 0 },
    status: 400,
    code: "validation_failed",
    fields: ["expiresInSeconds"],
    message: /at least 60/,
  },
  {
    name: "expiresInSeconds -1",
    method: "POST",
    path: PS,
    json: { expiresInSeconds: -1 },
    status: 400,
    code: "validation_failed",
    fields: ["expiresInSeconds"],
  },
  {
    name: "expiresInSeconds 59",
    method: "POST",
    path: PS,
    json: { expiresInSeconds: 59 },
    status: 400,
    code: "validation_failed",
    fields: ["expiresInSeconds"],
  },
  {
    name: "expiresInSeconds 86401",
    method: "POST",
    path: PS,
    json: { expiresInSeconds: 86_401 },
    status: 400,
    code: "validation_failed",
    fields: ["expiresInSeconds"],
    message: /at most 86400/,
  },
  {
    name: "expiresInSeconds 10^9",
    method: "POST",
    path: PS,
    json: { expiresInSeconds: 1e9 },
    status: 400,
    code: "validation_failed",
    fields: ["expiresInSeconds"],
  },
  {
    name: "expiresInSeconds a string",
    method: "POST",
    path: PS,
    json: { expiresInSeconds: "3600" },
    status: 400,
    code: "validation_failed",
    fields: ["expiresInSeconds"],
  },
  {
    name: "expiresInSeconds fractional",
    method: "POST",
    path: PS,
    json: { expiresInSeconds: 90.5 },
    status: 400,
    code: "validation_failed",
    fields: ["expiresInSeconds"],
  },
  {
    name: "expiresInSeconds null",
    method: "POST",
    path: PS,
    json: { expiresInSeconds: null },
    status: 400,
    code: "validation_failed",
    fields: ["expiresInSeconds"],
  },
  { name: "readOnly a string", method: "POST", path: PS, json: { readOnly: "true" }, status: 400, code: "validation_failed", fields: ["readOnly"] },
  { name: "readOnly a number", method: "POST", path: PS, json: { readOnly: 1 }, status: 400, code: "validation_failed", fields: ["readOnly"] },
  { name: "readOnly null", method: "POST", path: PS, json: { readOnly: null }, status: 400, code: "validation_failed", fields: ["readOnly"] },
  {
    name: "both wrong",
    method: "POST",
    path: PS,
    json: { expiresInSeconds: -1, readOnly: "no" },
    status: 400,
    code: "validation_failed",
    fields: ["expiresInSeconds", "readOnly"],
  },
  { name: "a tenantId in the body", method: "POST", path: PS, json: { tenantId: OTHER }, status: 400, code: "validation_failed", fields: ["tenantId"] },
  { name: "session: malformed JSON", method: "POST", path: PS, raw: "{expiresInSeconds: 60}", status: 400, code: "invalid_json", fields: ["(body)"] },
  { name: "session: a JSON array", method: "POST", path: PS, json: [], status: 400, code: "validation_failed", fields: ["(body)"] },
  { name: "session: JSON null", method: "POST", path: PS, json: null, status: 400, code: "validation_failed", fields: ["(body)"] },
  {
    name: "session: a bad tenant id",
    method: "POST",
    path: "/tenants/-bad/portal-sessions",
    json: {},
    status: 400,
    code: "validation_failed",
    fields: ["tenantId"],
  },
  { name: "session without the API token", method: "POST", path: PS, json: {}, token: null, status: 401, code: "unauthorized", fields: [] },
  { name: "session minted with a portal token", method: "POST", path: PS, json: {}, token: "{P}", status: 401, code: "unauthorized", fields: [] },
  { name: "revoke without the API token", method: "DELETE", path: PS, token: null, status: 401, code: "unauthorized", fields: [] },
  { name: "GET the sessions", method: "GET", path: PS, status: 405, code: "method_not_allowed", fields: [] },
  { name: "portal API without a token", method: "GET", path: PA, token: null, status: 401, code: "session_missing", fields: [] },
  { name: "portal API with the API token", method: "GET", path: PA, status: 401, code: "session_invalid", fields: [] },
  { name: "portal API with a forged token", method: "GET", path: PA, token: "{P_FORGED}", status: 401, code: "session_invalid", fields: [] },
  { name: "portal API with a truncated token", method: "GET", path: PA, token: "{P_TRUNCATED}", status: 401, code: "session_invalid", fields: [] },
  { name: "portal API with a token and a space", method: "GET", path: PA, token: "{P} x", status: 401, code: "session_invalid", fields: [] },
  { name: "portal API with another tenant's token", method: "GET", path: PA, token: "{P_OTHER}", status: 403, code: "tenant_mismatch", fields: ["tenantId"] },
  {
    name: "portal write with another tenant's token",
    method: "PATCH",
    path: `${PA}/{A}`,
    json: { enabled: false },
    token: "{P_OTHER}",
    status: 403,
    code: "tenant_mismatch",
    fields: ["tenantId"],
  },
  {
    name: "portal API with the token in the query string",
    method: "GET",
    path: `${PA}?token={P}`,
    token: null,
    status: 400,
    code: "token_in_url",
    fields: ["token"],
  },
  {
    name: "portal API with the token in the query string too",
    method: "GET",
    path: `${PA}?token={P}`,
    token: "{P}",
    status: 400,
    code: "token_in_url",
    fields: ["token"],
  },
  {
    name: "portal API with access_token in the query string",
    method: "GET",
    path: `/portal/api/session?access_token={P}`,
    token: null,
    status: 400,
    code: "token_in_url",
    fields: ["access_token"],
  },
  {
    name: "read-only session: PATCH",
    method: "PATCH",
    path: `${PA}/{A}`,
    json: { enabled: false },
    token: "{P_RO}",
    status: 403,
    code: "read_only_session",
    fields: [],
  },
  { name: "read-only session: create", method: "POST", path: PA, json: hook, token: "{P_RO}", status: 403, code: "read_only_session", fields: [] },
  {
    name: "read-only session: rotate",
    method: "POST",
    path: `${PA}/{A}/rotate-secret`,
    json: {},
    token: "{P_RO}",
    status: 403,
    code: "read_only_session",
    fields: [],
  },
  { name: "portal API: another tenant's webhook id", method: "GET", path: `${PA}/{B}`, token: "{P}", status: 404, code: "not_found", fields: [] },
  {
    name: "portal API: bad input is refused as on the management API",
    method: "PATCH",
    path: `${PA}/{A}`,
    json: { url: "ftp://x" },
    token: "{P}",
    status: 400,
    code: "validation_failed",
    fields: ["url"],
  },
  {
    name: "portal API: rateLimit 0",
    method: "PATCH",
    path: `${PA}/{A}`,
    json: { rateLimit: 0 },
    token: "{P}",
    status: 400,
    code: "validation_failed",
    fields: ["rateLimit"],
  },
  {
    name: "portal API: paused a string",
    method: "PATCH",
    path: `${PA}/{A}`,
    json: { paused: "yes" },
    token: "{P}",
    status: 400,
    code: "validation_failed",
    fields: ["paused"],
  },
  {
    name: "portal API: an unknown event",
    method: "GET",
    path: `/portal/api/tenants/${TENANT}/events/evt_nope`,
    token: "{P}",
    status: 404,
    code: "not_found",
    fields: [],
  },
  { name: "event: unknown id", method: "GET", path: `/tenants/${TENANT}/events/evt_nope`, status: 404, code: "not_found", fields: [] },
  { name: "event: a malformed id", method: "GET", path: `/tenants/${TENANT}/events/a%20b`, status: 404, code: "not_found", fields: [] },
  { name: "event: a bad tenant id", method: "GET", path: "/tenants/-bad/events/evt_1", status: 400, code: "validation_failed", fields: ["tenantId"] },
  { name: "portal asset that does not exist", method: "GET", path: "/portal/assets/nope.js", token: null, status: 404, code: "not_found", fields: [] },
  { name: "the page as an asset", method: "GET", path: "/portal/assets/index.html", token: null, status: 404, code: "not_found", fields: [] },
];

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

let stack: TestStack;
let strict: TestStack;
const trap = new TestReceiver();
const sentinelReceiver = new TestReceiver();
/** Path placeholders → values, filled in beforeAll. */
const ids: Record<string, string> = {};
let before: Record<string, unknown>;

const fill = (path: string) => path.replace(/\{(\w+)\}/g, (_, k: string) => ids[k] ?? `{${k}}`);

/** A delivery-log cursor in the shape the API returns (base64url of the last key), but crafted. */
const cursor = (pk: string, id: string) => Buffer.from(JSON.stringify({ pk, id })).toString("base64url");

/**
 * Sends a row with node:http, which (unlike fetch) sends exactly the headers, bytes and request
 * target it is given.
 */
async function send(
  row: Pick<Row, "strict" | "token" | "method" | "path" | "raw" | "bytes" | "json" | "headers" | "target">,
): Promise<{ status: number; body: any; headers: IncomingHttpHeaders }> {
  const target = row.strict ? strict : stack;
  const token = row.token === undefined ? target.stack.token : row.token === null ? null : fill(row.token);
  const given = Object.fromEntries(Object.entries(row.headers ?? {}).map(([k, v]) => [k, v === null ? null : fill(v)]));
  const headers: Record<string, string | null> = { "content-type": "application/json", authorization: token === null ? null : `Bearer ${token}`, ...given };
  const body = row.bytes ?? (row.raw !== undefined ? Buffer.from(row.raw) : row.json === undefined ? undefined : Buffer.from(JSON.stringify(row.json)));
  const { port } = new URL(target.apiUrl);
  const res = await new Promise<{ status: number; text: string; headers: IncomingHttpHeaders }>((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: row.method,
        path: row.target ?? fill(row.path),
        headers: {
          ...Object.fromEntries(Object.entries(headers).filter((h): h is [string, string] => h[1] !== null)),
          ...(body ? { "content-length": String(body.length) } : {}),
        },
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on("data", (c: Buffer) => chunks.push(c));
        r.on("end", () => resolve({ status: r.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8"), headers: r.headers }));
        r.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
  try {
    return { status: res.status, body: JSON.parse(res.text), headers: res.headers };
  } catch {
    return { status: res.status, body: res.text, headers: res.headers };
  }
}

/** Everything a table holds, for the "nothing written" check. */
async function scan(target: TestStack, table: "subscriptions" | "events" | "deliveries" | "portalSessions"): Promise<Record<string, unknown>[]> {
  const { config } = target.stack;
  const db = DynamoDBDocumentClient.from(new DynamoDBClient(config.dynamodb!));
  try {
    const res = await db.send(new ScanCommand({ TableName: config.tables[table], ConsistentRead: true }));
    return res.Items ?? [];
  } finally {
    db.destroy();
  }
}

async function snapshot() {
  const get = async (t: TestStack, tenant: string, id: string) => (await t.api("GET", `/tenants/${tenant}/webhooks/${id}`)).body;
  return { A: await get(stack, TENANT, ids.A), B: await get(stack, OTHER, ids.B), S: await get(strict, STRICT_TENANT, ids.S) };
}

beforeAll(async () => {
  await Promise.all([trap.start(), sentinelReceiver.start()]);
  [stack, strict] = await Promise.all([startTestStack(), startTestStack({ allowPrivateEndpoints: false, worker: false })]);
  // Both tenants subscribe to everything at the trap: any event wrongly accepted would reach it.
  ids.TOKEN = stack.stack.token;
  ids.A = (await stack.createWebhook(TENANT, trap.url, ["*"])).id;
  ids.B = (await stack.createWebhook(OTHER, trap.url, ["*"])).id;
  ids.S = (await strict.createWebhook(STRICT_TENANT, "https://example.com/hooks", ["record.*"])).id;
  ids.C_FOREIGN = cursor(`${OTHER}#${ids.B}`, D);
  ids.C_NOT_A_DELIVERY = cursor(`${TENANT}#${ids.A}`, "zzz");
  ids.C_LONGER_KEY = cursor(`${TENANT}#${ids.A}x`, D);
  ids.C_BEYOND_TIME = cursor(`${TENANT}#${ids.A}`, `dlv_${"Z".repeat(26)}`);
  const mint = async (tenant: string, body: object) => (await stack.api("POST", `/tenants/${tenant}/portal-sessions`, body)).body.token as string;
  [ids.P, ids.P_RO, ids.P_OTHER] = await Promise.all([mint(TENANT, {}), mint(TENANT, { readOnly: true }), mint(OTHER, {})]);
  ids.P_TRUNCATED = ids.P.slice(0, -1);
  ids.P_FORGED = `rkps_${"x".repeat(43)}`;
  before = await snapshot();
}, 60_000);

afterAll(async () => {
  await Promise.all([stack?.stop(), strict?.stop()]);
  await Promise.all([trap.stop(), sentinelReceiver.stop()]);
});

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

describe.each([
  ["ingest", ingestRows],
  ["create and tenant ids", createRows],
  ["SSRF guard", ssrfRows],
  ["one webhook", webhookRows],
  ["deliveries, retry, replay", deliveryRows],
  ["auth, methods, routes", transportRows],
  ["portal sessions and the portal API", portalRows],
])("%s", (_group, rows) => {
  const check = async (row: Row) => {
    const res = await send(row);
    expect({ status: res.status, code: res.body?.error?.code, fields: res.body?.error?.details?.map((d: { field: string }) => d.field) }).toEqual({
      status: row.status,
      code: row.code,
      fields: row.fields,
    });
    expect(typeof res.body.error.message).toBe("string");
    if (row.message) expect(res.body.error.message).toMatch(row.message);
    for (const d of res.body.error.details) expect(d.message).toEqual(expect.any(String));
  };
  test.each(rows)("$method $path: $name → $status", check);
});

/** Not refusals: requests that used to be refused or to fail, and must not be (issue 12). */
describe("answered as they should be", () => {
  test.each([
    ["a lower-case bearer scheme", "bearer {TOKEN}"],
    ["an upper-case BEARER scheme", "BEARER {TOKEN}"],
    ["two spaces after the scheme", "Bearer  {TOKEN}"],
  ])("GET /event-types with %s → 200", async (_name, authorization) => {
    const res = await send({ method: "GET", path: "/event-types", headers: { authorization } });
    expect(res.status).toBe(200);
    expect(res.body.eventTypes.map((t: { name: string }) => t.name)).toEqual(EVENT_TYPE_NAMES);
  });

  test("HEAD /health → 200 like GET, without a body and without a token", async () => {
    const get = await send({ method: "GET", path: "/health", token: null });
    const head = await send({ method: "HEAD", path: "/health", token: null });
    expect([get.status, get.body]).toEqual([200, { status: "ok" }]);
    expect([head.status, head.body, head.headers["content-type"]]).toEqual([200, "", "application/json"]);
  });
});

// ---------------------------------------------------------------------------------------------
// Nothing was written
// ---------------------------------------------------------------------------------------------

describe("after the table, nothing was written", () => {
  test("the webhooks are exactly the ones created on purpose, unchanged (no PATCH, rotation or delete went through)", async () => {
    expect(await snapshot()).toEqual(before);
    const list = async (t: TestStack, tenant: string) =>
      (await t.api("GET", `/tenants/${tenant}/webhooks?limit=100`)).body.items.map((w: { id: string }) => w.id);
    expect(await list(stack, TENANT)).toEqual([ids.A]);
    expect(await list(stack, OTHER)).toEqual([ids.B]);
    expect(await list(strict, STRICT_TENANT)).toEqual([ids.S]);
    // Each tenant's slot item (its webhook ids, for the limit) holds exactly the webhooks it has.
    const items = await scan(stack, "subscriptions");
    const webhookItems = (rows: Record<string, unknown>[]) => rows.filter((s) => String(s.id).startsWith("wh_"));
    const slotsOf = (rows: Record<string, unknown>[]) =>
      Object.fromEntries(rows.filter((s) => s.id === "#webhooks").map((s) => [s.tenantId, [...(s.ids as Set<string>)]]));
    expect(
      webhookItems(items)
        .map((s) => s.id)
        .sort(),
    ).toEqual([ids.A, ids.B].sort());
    expect(slotsOf(items)).toEqual({ [TENANT]: [ids.A], [OTHER]: [ids.B] });
    expect(items).toHaveLength(4);
    const rawA = items.find((s) => s.id === ids.A) as { secrets: unknown[] };
    expect(rawA.secrets).toHaveLength(1);
    const strictItems = await scan(strict, "subscriptions");
    expect(webhookItems(strictItems).map((s) => s.id)).toEqual([ids.S]);
    expect(slotsOf(strictItems)).toEqual({ [STRICT_TENANT]: [ids.S] });
  });

  test("no event and no delivery exists, and the receiver got nothing, while a valid event right after is delivered", async () => {
    // Positive control: the pipeline works, so an event wrongly accepted earlier would have arrived.
    const sentinel = await stack.createWebhook(SENTINEL, sentinelReceiver.url, ["record.created"]);
    const ok = await stack.api("POST", "/events", { type: "record.created", tenantId: SENTINEL, data: { recordId: "rec_ok" } });
    expect(ok.status).toBe(202);
    expect(ok.body.deliveries).toBe(1);
    await stack.waitForDeliveries(SENTINEL, sentinel.id, (items) => items.length === 1 && items[0].status === "succeeded");
    expect(sentinelReceiver.requests).toHaveLength(1);

    expect(trap.requests).toHaveLength(0);
    expect((await scan(stack, "events")).map((e) => e.tenantId)).toEqual([SENTINEL]);
    expect((await scan(stack, "deliveries")).map((d) => d.tenantId)).toEqual([SENTINEL]);
    for (const [tenant, id] of [
      [TENANT, ids.A],
      [OTHER, ids.B],
    ]) {
      expect((await stack.api("GET", `/tenants/${tenant}/webhooks/${id}/deliveries`)).body).toEqual({ items: [], cursor: null });
    }
    // The three sessions minted on purpose, no other, and no revocation.
    expect((await scan(stack, "portalSessions")).map((i) => i.tenantId).sort()).toEqual([TENANT, TENANT, OTHER]);
    expect(await scan(strict, "events")).toEqual([]);
    expect(await scan(strict, "deliveries")).toEqual([]);
    expect((await stack.api("GET", "/admin/dlq")).status).toBe(200);
  });
});
