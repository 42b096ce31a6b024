/**
 * Counting AWS requests at the emulators' HTTP endpoints (pure part, unit-tested).
 *
 * The SDK v3 clients of both services speak the AWS JSON protocol: every request is a POST whose
 * `X-Amz-Target` header names the operation (`AmazonSQS.SendMessageBatch`,
 * `DynamoDB_20120810.UpdateItem`). The emulator process (bench/emulator-main.ts) feeds each request
 * and its response body to `record`.
 *
 * What AWS bills, and how it is derived here:
 * - SQS: one request per 64 KiB chunk of payload. Approximated as
 *   ceil(max(request body, response body) / 64 KiB), at least 1.
 * - DynamoDB: write units are ceil(item size / 1 KiB) per item written, where an update counts the
 *   larger of the item before and after it; consistent reads are ceil(item size / 4 KiB) per item,
 *   and reading an item that does not exist still costs one unit. Rather than estimating item sizes
 *   from requests, the emulator process asks dynalite for them: it adds
 *   `ReturnConsumedCapacity: "TOTAL"` to every data-plane request (`withConsumedCapacity`) and reads
 *   `ConsumedCapacity` back from the response (`consumedCapacity`). dynalite computes it with
 *   DynamoDB's rules (attribute names + values, before/after images of updates).
 */

export type Service = "sqs" | "dynamodb";

export interface OpCount {
  requests: number;
  /** SQS: billed requests (64 KiB chunks). DynamoDB: capacity units (read or write, by operation). */
  units: number;
  /** SQS ReceiveMessage: messages returned, and how many receives returned none. */
  messages: number;
  empty: number;
}

export interface Tally {
  sqs: Record<string, OpCount>;
  dynamodb: Record<string, OpCount>;
  /** DynamoDB capacity units per table. */
  tables: Record<string, { read: number; write: number }>;
}

export const SQS_CHUNK_BYTES = 64 * 1024;

export const DYNAMODB_READS = new Set(["GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"]);
export const DYNAMODB_WRITES = new Set(["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"]);

export function emptyTally(): Tally {
  return { sqs: {}, dynamodb: {}, tables: {} };
}

/** `AmazonSQS.ReceiveMessage` → sqs/ReceiveMessage; `DynamoDB_20120810.PutItem` → dynamodb/PutItem. */
export function operationOf(target: string | undefined): { service: Service; op: string } | undefined {
  if (!target) return undefined;
  const dot = target.indexOf(".");
  if (dot < 0) return undefined;
  const prefix = target.slice(0, dot);
  const op = target.slice(dot + 1);
  if (prefix === "AmazonSQS") return { service: "sqs", op };
  if (prefix.startsWith("DynamoDB_")) return { service: "dynamodb", op };
  return undefined;
}

export function sqsBilledRequests(requestBytes: number, responseBytes: number): number {
  return Math.max(1, Math.ceil(Math.max(requestBytes, responseBytes) / SQS_CHUNK_BYTES));
}

/** Adds `ReturnConsumedCapacity: "TOTAL"` to a DynamoDB data-plane request body; others unchanged. */
export function withConsumedCapacity(op: string, body: string): string {
  if (!DYNAMODB_READS.has(op) && !DYNAMODB_WRITES.has(op)) return body;
  const request = JSON.parse(body) as Record<string, unknown>;
  request.ReturnConsumedCapacity = "TOTAL";
  return JSON.stringify(request);
}

/**
 * The `ConsumedCapacity` entries of a DynamoDB response: one object for single-item operations, an
 * array for batches. Read with a pattern rather than JSON.parse to keep the emulator process cheap;
 * the sequence cannot occur inside an item's string values, whose quotes are escaped.
 */
export function consumedCapacity(responseBody: string): { table: string; units: number }[] {
  const out: { table: string; units: number }[] = [];
  for (const m of responseBody.matchAll(/"CapacityUnits":([0-9.]+),"TableName":"([^"]+)"/g)) {
    out.push({ table: m[2], units: Number(m[1]) });
  }
  return out;
}

/** Messages in a ReceiveMessage response (each has one unescaped `"MessageId"` key). */
export function messagesIn(responseBody: string): number {
  let n = 0;
  for (let i = responseBody.indexOf('"MessageId"'); i >= 0; i = responseBody.indexOf('"MessageId"', i + 1)) n++;
  return n;
}

const count = (table: Record<string, OpCount>, op: string): OpCount => (table[op] ??= { requests: 0, units: 0, messages: 0, empty: 0 });

/** Adds one request (and its response) to the tally. Requests without a known target are ignored. */
export function record(tally: Tally, target: string | undefined, requestBytes: number, responseBody: string): void {
  const operation = operationOf(target);
  if (!operation) return;
  const { service, op } = operation;
  if (service === "sqs") {
    const c = count(tally.sqs, op);
    c.requests++;
    c.units += sqsBilledRequests(requestBytes, Buffer.byteLength(responseBody));
    if (op === "ReceiveMessage") {
      const n = messagesIn(responseBody);
      c.messages += n;
      if (n === 0) c.empty++;
    }
    return;
  }
  const c = count(tally.dynamodb, op);
  c.requests++;
  const kind = DYNAMODB_READS.has(op) ? "read" : DYNAMODB_WRITES.has(op) ? "write" : undefined;
  if (!kind) return;
  for (const { table, units } of consumedCapacity(responseBody)) {
    c.units += units;
    (tally.tables[table] ??= { read: 0, write: 0 })[kind] += units;
  }
}

/** `after − before`, operation by operation: the requests made between two snapshots. */
export function difference(after: Tally, before: Tally): Tally {
  const diffOps = (a: Record<string, OpCount>, b: Record<string, OpCount>) => {
    const out: Record<string, OpCount> = {};
    for (const [op, c] of Object.entries(a)) {
      const p = b[op] ?? { requests: 0, units: 0, messages: 0, empty: 0 };
      const d = { requests: c.requests - p.requests, units: c.units - p.units, messages: c.messages - p.messages, empty: c.empty - p.empty };
      if (d.requests > 0) out[op] = d;
    }
    return out;
  };
  const tables: Tally["tables"] = {};
  for (const [t, c] of Object.entries(after.tables)) {
    const p = before.tables[t] ?? { read: 0, write: 0 };
    if (c.read - p.read > 0 || c.write - p.write > 0) tables[t] = { read: c.read - p.read, write: c.write - p.write };
  }
  return { sqs: diffOps(after.sqs, before.sqs), dynamodb: diffOps(after.dynamodb, before.dynamodb), tables };
}

/** What one delivery costs in AWS requests, from the tally of a run of `deliveries` deliveries. */
export interface PerDelivery {
  sqs: { send: number; receive: number; emptyReceive: number; delete: number; changeVisibility: number; other: number; total: number; billed: number };
  dynamodb: {
    readRequests: number;
    writeRequests: number;
    readUnits: number;
    writeUnits: number;
    /** Capacity units per table (name without the stack's prefix). */
    tables: Record<string, { read: number; write: number }>;
  };
}

/** `rk-webhooks-deliveries` → `deliveries`. */
const shortTable = (name: string) => name.slice(name.lastIndexOf("-") + 1);

export function perDelivery(t: Tally, deliveries: number): PerDelivery {
  const sum = (ops: Record<string, OpCount>, pick: (op: string) => boolean, field: keyof OpCount = "requests") =>
    Object.entries(ops).reduce((n, [op, c]) => n + (pick(op) ? c[field] : 0), 0) / deliveries;
  const is =
    (...names: string[]) =>
    (op: string) =>
      names.includes(op);
  const known = [
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
  ];
  return {
    sqs: {
      send: sum(t.sqs, is("SendMessage", "SendMessageBatch")),
      receive: sum(t.sqs, is("ReceiveMessage")),
      emptyReceive: sum(t.sqs, is("ReceiveMessage"), "empty"),
      delete: sum(t.sqs, is("DeleteMessage", "DeleteMessageBatch")),
      changeVisibility: sum(t.sqs, is("ChangeMessageVisibility", "ChangeMessageVisibilityBatch")),
      other: sum(t.sqs, (op) => !known.includes(op)),
      total: sum(t.sqs, () => true),
      billed: sum(t.sqs, () => true, "units"),
    },
    dynamodb: {
      readRequests: sum(t.dynamodb, (op) => DYNAMODB_READS.has(op)),
      writeRequests: sum(t.dynamodb, (op) => DYNAMODB_WRITES.has(op)),
      readUnits: sum(t.dynamodb, (op) => DYNAMODB_READS.has(op), "units"),
      writeUnits: sum(t.dynamodb, (op) => DYNAMODB_WRITES.has(op), "units"),
      tables: Object.fromEntries(Object.entries(t.tables).map(([name, c]) => [shortTable(name), { read: c.read / deliveries, write: c.write / deliveries }])),
    },
  };
}
