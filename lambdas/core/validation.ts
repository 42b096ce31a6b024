import { z } from "zod";
import { ApiError, validationError, type ErrorDetail } from "./errors.ts";

/** Turns a zod issue path into the dotted path users see: `events[2].data.recordId`. */
export function fieldPath(path: readonly PropertyKey[], prefix = ""): string {
  let out = prefix;
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || "(body)";
}

/**
 * One detail per offending field, with its first problem. An unknown field (zod reports it on the
 * object that holds it) is named itself: `events[0].priority`, not `events[0]`.
 */
export function issuesToDetails(issues: readonly z.core.$ZodIssue[], prefix = ""): ErrorDetail[] {
  const details = issues.flatMap((issue): ErrorDetail[] =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({ field: fieldPath([...issue.path, key], prefix), message: "is not a known field" }))
      : [{ field: fieldPath(issue.path, prefix), message: issue.message }],
  );
  return details.filter((d, i) => details.findIndex((e) => e.field === d.field) === i);
}

/** Parses `input` with `schema` or throws a 400 naming every invalid field. */
export function parseOrThrow<T extends z.ZodType>(schema: T, input: unknown, prefix = ""): z.infer<T> {
  const result = schema.safeParse(input);
  if (!result.success) throw validationError(issuesToDetails(result.error.issues, prefix));
  return result.data;
}

/**
 * Parses a JSON request body; a malformed one is a 400, an absent one is `undefined`. A JSON `null`
 * is a 400 too: no route takes it, and callers default an absent body to `{}`.
 */
export function parseJsonBody(body: string | undefined): unknown {
  if (body === undefined || body.trim() === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw new ApiError(400, "invalid_json", `request body is not valid JSON: ${(err as Error).message}`, [
      { field: "(body)", message: "must be a JSON document" },
    ]);
  }
  if (parsed === null) throw validationError([{ field: "(body)", message: "must be a JSON object, not null" }]);
  return parsed;
}

/** Tenant ids are path segments and key prefixes: keep them to a safe alphabet. */
export const tenantIdSchema = z
  .string({ error: "is required and must be a string" })
  .min(1, "must not be empty")
  .max(128, "must be at most 128 characters")
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, "may contain only letters, digits, '_', '.', ':' and '-'");

export const isoDateTimeSchema = z.iso.datetime({ offset: true, error: "must be an ISO 8601 date-time, e.g. 2026-11-26T10:00:00Z" });

/**
 * What JSON.parse gave that the payload could not carry as sent: nesting deeper than `maxDepth`
 * (serialising it again is recursive, and overflows the stack at a few thousand levels) or a number
 * beyond double precision (`1e400` parses to Infinity, and would be delivered as `null`). Iterative,
 * so that any depth is measured safely. Undefined when the value is fine.
 */
export function jsonValueProblem(value: unknown, maxDepth: number): string | undefined {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v === "number" && !Number.isFinite(v)) return "holds a number beyond the range of a double (e.g. 1e400)";
    if (typeof v !== "object" || v === null) continue;
    if (depth > maxDepth) return `must nest objects and arrays at most ${maxDepth} levels deep`;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return undefined;
}
