import { describeCatalogue, EVENT_TYPE_NAMES, EVENT_TYPES, findEventType } from "#core/catalogue.ts";

/** The event catalogue (docs/architecture.md): one entry per type, served as JSON Schema by GET /event-types. */

test("names the catalogue's five types, each once", () => {
  expect(EVENT_TYPE_NAMES).toEqual(["record.created", "record.updated", "file.ingested", "sync.completed", "ai.insight.generated"]);
  expect(new Set(EVENT_TYPE_NAMES).size).toBe(EVENT_TYPES.length);
  for (const name of EVENT_TYPE_NAMES) expect(name).toMatch(/^[a-z]+(\.[a-z]+)+$/);
});

describe.each(EVENT_TYPES.map((t) => [t.name, t] as const))("%s", (_name, type) => {
  test("has a one-line description", () => {
    expect(type.description.length).toBeGreaterThan(10);
    expect(type.description).not.toContain("\n");
  });

  test("its example validates against its own schema", () => {
    expect(type.data.safeParse(type.example)).toMatchObject({ success: true, data: type.example });
  });

  test("its schema refuses data without the required id, and keeps unknown fields", () => {
    expect(type.data.safeParse({}).success).toBe(false);
    const extra = { ...type.example, addedLater: 1 };
    expect(type.data.parse(extra)).toEqual(extra);
  });

  test("findEventType finds it", () => {
    expect(findEventType(type.name)).toBe(type);
  });
});

test("findEventType knows nothing else", () => {
  for (const name of ["", "*", "record.*", "record.deleted", "RECORD.CREATED", "constructor", "__proto__"]) expect(findEventType(name)).toBeUndefined();
});

test("the required id fields are the ones receivers rely on", () => {
  const required = Object.fromEntries(describeCatalogue().map((t) => [t.name, (t.schema as { required?: string[] }).required]));
  expect(required).toEqual({
    "record.created": ["recordId"],
    "record.updated": ["recordId"],
    "file.ingested": ["fileId"],
    "sync.completed": ["syncId"],
    "ai.insight.generated": ["insightId"],
  });
});

describe("describeCatalogue", () => {
  const described = describeCatalogue();

  test("lists every type in catalogue order with its description and example", () => {
    expect(described.map((d) => d.name)).toEqual(EVENT_TYPE_NAMES);
    described.forEach((d, i) => {
      expect(d.description).toBe(EVENT_TYPES[i].description);
      expect(d.example).toEqual(EVENT_TYPES[i].example);
    });
  });

  test("gives plain JSON Schema objects (no zod), serialisable as is", () => {
    for (const d of described) {
      expect(d.schema).toMatchObject({ $schema: expect.stringMatching(/json-schema\.org/), type: "object", properties: expect.any(Object) });
      expect(JSON.parse(JSON.stringify(d.schema))).toEqual(d.schema);
      expect(Object.getPrototypeOf(d.schema)).toBe(Object.prototype);
      // Producers may add fields: the schema must not close the object.
      expect((d.schema as { additionalProperties?: unknown }).additionalProperties).not.toBe(false);
    }
  });

  test("every example has every property its JSON Schema declares with the declared type", () => {
    const jsonType = (v: unknown) => (Array.isArray(v) ? "array" : Number.isInteger(v) ? "integer" : typeof v);
    for (const d of described) {
      const props = (d.schema as { properties: Record<string, { type?: string }> }).properties;
      for (const [key, value] of Object.entries(d.example as Record<string, unknown>)) {
        const declared = props[key]?.type;
        if (!declared) continue;
        expect([declared, declared === "number" ? "integer" : declared]).toContain(jsonType(value));
      }
    }
  });
});
