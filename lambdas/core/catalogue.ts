import { z } from "zod";

/**
 * The event catalogue (docs/architecture.md): every event type with a one-line description, the schema of its
 * `data` and an example payload. Adding a type is adding one entry here; `GET /event-types`, ingest
 * validation, subscription validation and `POST …/test` all read this list.
 *
 * Schemas require the fields receivers rely on and let producers add more (`z.looseObject`), so a
 * new optional field in the core app is not a breaking change.
 */
export interface EventTypeDefinition<S extends z.ZodType = z.ZodType, N extends string = string> {
  readonly name: N;
  readonly description: string;
  readonly data: S;
  readonly example: z.infer<S>;
}

const id = (what: string) =>
  z
    .string({ error: `is required: the ${what} id` })
    .min(1)
    .max(256);

/** Keeps each type's literal name and schema, so that clients derive their types from this list (client/). */
function define<S extends z.ZodType, const N extends string>(def: EventTypeDefinition<S, N>): EventTypeDefinition<S, N> {
  def.data.parse(def.example); // an example that does not fit its own schema is a bug at load time
  return def;
}

export const EVENT_TYPES = [
  define({
    name: "record.created",
    description: "A record was created in a RecordsKeeper.AI workspace.",
    data: z.looseObject({ recordId: id("record"), title: z.string().max(1_000).optional(), createdBy: z.string().optional() }),
    example: { recordId: "rec_8842", title: "Lease agreement — 12 Harbour St", createdBy: "usr_17" },
  }),
  define({
    name: "record.updated",
    description: "Fields of a record changed; `changes` lists the field names.",
    data: z.looseObject({ recordId: id("record"), changes: z.array(z.string()).optional(), sensitive: z.boolean().optional() }),
    example: { recordId: "rec_8842", changes: ["retentionClass", "owner"], sensitive: true },
  }),
  define({
    name: "file.ingested",
    description: "A file was uploaded, scanned and indexed, and is ready to use.",
    data: z.looseObject({
      fileId: id("file"),
      name: z.string().optional(),
      sizeBytes: z.number().int().nonnegative().optional(),
      url: z.string().optional(),
    }),
    example: { fileId: "fil_301", name: "invoice-2026-11.pdf", sizeBytes: 482_113, url: "https://app.recordskeeper.ai/files/fil_301" },
  }),
  define({
    name: "sync.completed",
    description: "A connector finished synchronising a source system.",
    data: z.looseObject({
      syncId: id("sync"),
      source: z.string().optional(),
      recordsSynced: z.number().int().nonnegative().optional(),
    }),
    example: { syncId: "syn_55", source: "sharepoint", recordsSynced: 1_204 },
  }),
  define({
    name: "ai.insight.generated",
    description: "The AI produced an insight about a record (a risk, an anomaly, a suggestion).",
    data: z.looseObject({
      insightId: id("insight"),
      recordId: z.string().optional(),
      summary: z.string().max(10_000).optional(),
      severity: z.enum(["info", "low", "medium", "high"]).optional(),
    }),
    example: { insightId: "ins_9", recordId: "rec_8842", summary: "Retention period ends in 30 days but the record is under legal hold.", severity: "high" },
  }),
] as const;

export const EVENT_TYPE_NAMES: readonly string[] = EVENT_TYPES.map((t) => t.name);

export function findEventType(name: string): EventTypeDefinition | undefined {
  return EVENT_TYPES.find((t) => t.name === name);
}

/** The catalogue as served by `GET /event-types`: JSON Schema of `data`, not zod. */
export function describeCatalogue() {
  return EVENT_TYPES.map((t) => ({
    name: t.name,
    description: t.description,
    schema: z.toJSONSchema(t.data, { io: "input" }),
    example: t.example,
  }));
}
