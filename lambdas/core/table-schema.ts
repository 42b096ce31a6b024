import { TABLES, type TableName } from "./settings.ts";

/** A global secondary index as TABLES defines it: string keys; `nonKeyAttributes` means an INCLUDE projection, none means ALL. */
export interface IndexSchema {
  readonly name: string;
  readonly partitionKey: string;
  readonly sortKey: string;
  readonly nonKeyAttributes?: readonly string[];
}

export interface TableSchema {
  readonly partitionKey: string;
  readonly sortKey?: string;
  readonly indexes: readonly IndexSchema[];
}

const isIndex = (value: unknown): value is IndexSchema =>
  typeof value === "object" && value !== null && "name" in value && "partitionKey" in value && "sortKey" in value;

/**
 * A table's keys and secondary indexes, read from TABLES: the stack (lib/constructs/tables.ts) and
 * the local stack (local/emulators.ts) build every table from this, so an index added to the
 * settings exists in both, and neither can forget one.
 */
export function tableSchema(kind: TableName): TableSchema {
  const keys = TABLES[kind] as { partitionKey: string; sortKey?: string } & Record<string, unknown>;
  return { partitionKey: keys.partitionKey, sortKey: keys.sortKey, indexes: Object.values(keys).filter(isIndex) };
}

/** Every attribute a table's key or an index's key names (all strings), each once. */
export function keyAttributes(schema: TableSchema): string[] {
  const names = [schema.partitionKey, schema.sortKey, ...schema.indexes.flatMap((i) => [i.partitionKey, i.sortKey])];
  return [...new Set(names.filter((n): n is string => n !== undefined))];
}
