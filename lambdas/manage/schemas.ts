import { z } from "zod";
import { DELIVERY_STATUSES } from "#core/model.ts";
import { HEALTH, LIMITS } from "#core/settings.ts";
import { isoDateTimeSchema } from "#core/validation.ts";

/**
 * The management API's request bodies and query strings (docs/openapi.yaml). Each refusal names its
 * field; the services of lambdas/core take what these parse, and check what needs the stores.
 */
const urlSchema = z
  .string({ error: "is required and must be a string" })
  .min(1, "must not be empty")
  .max(LIMITS.urlMaxLength, `must be at most ${LIMITS.urlMaxLength} characters`);
const eventTypesSchema = z
  .array(z.string({ error: "must be a string" }).min(1, "must not be empty"), { error: "is required and must be an array of event types" })
  .min(1, 'must name at least one event type, or "*"')
  .max(50, "must name at most 50 event types");
const descriptionSchema = z.string({ error: "must be a string" }).max(LIMITS.descriptionMaxLength, `must be at most ${LIMITS.descriptionMaxLength} characters`);
/** Deliveries per second at most (docs/delivery-semantics.md); beyond it they wait parked, none is dropped. */
const rateLimitSchema = z
  .number({ error: `must be a whole number of deliveries per second, from ${HEALTH.rateLimitMin} to ${HEALTH.rateLimitMax}` })
  .int("must be a whole number of deliveries per second")
  .min(HEALTH.rateLimitMin, `must be at least ${HEALTH.rateLimitMin}`)
  .max(HEALTH.rateLimitMax, `must be at most ${HEALTH.rateLimitMax}`);
const pausedSchema = z.boolean({ error: "must be true or false" });

export const createSchema = z.strictObject({
  url: urlSchema,
  eventTypes: eventTypesSchema,
  description: descriptionSchema.optional(),
  enabled: z.boolean({ error: "must be true or false" }).optional(),
  paused: pausedSchema.optional(),
  rateLimit: rateLimitSchema.optional(),
});

export const patchSchema = z
  .strictObject({
    url: urlSchema.optional(),
    eventTypes: eventTypesSchema.optional(),
    description: descriptionSchema.nullable().optional(),
    enabled: z.boolean({ error: "must be true or false" }).optional(),
    paused: pausedSchema.optional(),
    /** `null` removes the limit. */
    rateLimit: rateLimitSchema.nullable().optional(),
  })
  .refine((p) => Object.keys(p).length > 0, {
    message: "must change at least one of url, eventTypes, description, enabled, paused, rateLimit",
    when: (payload) => payload.issues.length === 0, // an unknown field is reported as such, not as "nothing to change"
  });

export const rotateSchema = z.strictObject({
  graceSeconds: z
    .number({ error: "must be a number of seconds" })
    .int("must be a whole number of seconds")
    .min(0, "must not be negative")
    .max(LIMITS.rotateGraceMaxSeconds, `must be at most ${LIMITS.rotateGraceMaxSeconds} (7 days)`)
    .optional(),
});

export const testSchema = z.strictObject({ type: z.string({ error: "must be a string" }).optional() });

const limitSchema = z.coerce
  .number({ error: "must be a number" })
  .int("must be a whole number")
  .min(1, "must be at least 1")
  .max(LIMITS.pageSizeMax, `must be at most ${LIMITS.pageSizeMax}`);

export const listSchema = z.strictObject({
  limit: limitSchema.optional(),
  cursor: z.string().optional(),
});

const statusSchema = z.enum(DELIVERY_STATUSES, { error: `must be one of: ${DELIVERY_STATUSES.join(", ")}` });

/** Delivery ids carry their creation time as a ULID, which starts at the Unix epoch. */
const notBeforeEpoch = (schema: typeof isoDateTimeSchema) => schema.refine((t) => Date.parse(t) >= 0, "must be 1970-01-01T00:00:00Z or later");

/**
 * The delivery log's query and the replay body. Their cursor must have the form of the log's
 * cursors (`isCursor`, which only the log's adapter knows), checked here with the other fields so
 * that every invalid field is named at once; whose webhook it belongs to is checked when it is used.
 */
export function deliveryLogSchemas(isCursor: (cursor: string) => boolean) {
  const cursorSchema = z.string().refine(isCursor, "is not a cursor this API returned");
  const deliveriesQuery = z.strictObject({
    status: statusSchema.optional(),
    limit: limitSchema.optional(),
    cursor: cursorSchema.optional(),
  });
  const replay = z
    .strictObject({
      since: notBeforeEpoch(isoDateTimeSchema),
      until: notBeforeEpoch(isoDateTimeSchema).optional(),
      status: statusSchema.optional(),
      /** The `cursor` of an earlier answer: carries on where that call stopped. */
      cursor: z.string({ error: "must be a string" }).pipe(cursorSchema).optional(),
    })
    .refine((r) => !r.until || Date.parse(r.until) > Date.parse(r.since), {
      message: "must be after since",
      path: ["until"],
      when: (payload) => payload.issues.length === 0, // compare only two valid dates
    });
  return { deliveriesQuery, replay };
}
