import Ajv2020, { type ErrorObject } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { loadOpenApi } from "../../local/openapi.ts";

/**
 * docs/openapi.yaml for the tests: its operations, and an ajv (JSON Schema 2020-12, the dialect of
 * OpenAPI 3.1) that validates requests and responses against the document's own schemas, `$ref`s
 * resolved inside the document.
 */
export const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;

type Json = Record<string, any>;

export interface Operation {
  /** `POST /events`, the form of the route keys in lambdas/core/routes.ts. */
  readonly key: string;
  readonly method: string;
  readonly path: string;
  /** JSON pointer of the operation object, e.g. `#/paths/~1events/post`. */
  readonly pointer: string;
  readonly op: Json;
  readonly localOnly: boolean;
}

/** A JSON pointer segment (RFC 6901). */
export const escapePointer = (segment: string): string => segment.replaceAll("~", "~0").replaceAll("/", "~1");

/** Reads the value at a `#/a/b` pointer of `doc`. */
export function resolvePointer(doc: Json, pointer: string): any {
  const parts = pointer.replace(/^#\/?/, "").split("/").filter(Boolean);
  return parts.reduce<any>((node, part) => node?.[part.replaceAll("~1", "/").replaceAll("~0", "~")], doc);
}

export function operationsOf(doc: Json, section: "paths" | "webhooks" = "paths"): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries<Json>(doc[section] ?? {})) {
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (!op) continue;
      out.push({
        key: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        pointer: `#/${section}/${escapePointer(path)}/${method}`,
        op,
        localOnly: op["x-local-only"] === true,
      });
    }
  }
  return out;
}

export class OpenApiValidator {
  readonly doc: Json;
  readonly operations: Operation[];
  private readonly ajv: Ajv2020;
  private static readonly ID = "openapi.json";

  constructor(doc: Json = loadOpenApi() as Json) {
    this.doc = doc;
    this.operations = operationsOf(doc);
    // strict: an unknown keyword or a misspelt one in a schema of the document is an error.
    this.ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
    addFormats(this.ajv);
    // The document itself is added as a schema so that `$ref`s resolve inside it; its top-level
    // OpenAPI fields are declared as (annotation-only) keywords so that strict mode accepts the root.
    this.ajv.addVocabulary(Object.keys(doc).filter((k) => !k.startsWith("$")));
    this.ajv.addSchema(doc, OpenApiValidator.ID);
  }

  /** Errors of `value` against the schema at `pointer` (e.g. `#/components/schemas/Webhook`); [] when valid. */
  validate(pointer: string, value: unknown): string[] {
    const validate = this.ajv.getSchema(`${OpenApiValidator.ID}${pointer}`);
    if (!validate) throw new Error(`no schema at ${pointer}`);
    return validate(value) ? [] : describe(validate.errors);
  }

  /** Errors of `value` against the component schema `name`. */
  schema(name: string, value: unknown): string[] {
    return this.validate(`#/components/schemas/${escapePointer(name)}`, value);
  }

  operation(method: string, path: string): Operation {
    const found = this.operations.find((o) => o.method === method.toUpperCase() && o.path === path);
    if (!found) throw new Error(`the document has no operation ${method} ${path}`);
    return found;
  }

  /** Follows a `$ref` to a component (responses, parameters, request bodies), returning the object and its pointer. */
  deref(node: Json, pointer: string): { node: Json; pointer: string } {
    let current = { node, pointer };
    for (let hops = 0; typeof current.node?.$ref === "string"; hops++) {
      // A chain this long is a cycle in the document: fail with it rather than loop for ever.
      if (hops === 20) throw new Error(`$ref chain from ${pointer} does not end (a cycle?) at ${current.pointer}`);
      const target = current.node.$ref as string;
      current = { node: resolvePointer(this.doc, target), pointer: target };
    }
    return current;
  }

  /** The response object documented for `status` (exact code, then `2XX`-style range, then `default`). */
  response(op: Operation, status: number): { node: Json; pointer: string } | undefined {
    const responses: Json = op.op.responses ?? {};
    const code = [String(status), `${String(status)[0]}XX`, "default"].find((c) => c in responses);
    return code === undefined ? undefined : this.deref(responses[code], `${op.pointer}/responses/${code}`);
  }

  /** Errors of an actual answer: its status must be documented, and its body must match that status's schema. */
  checkResponse(method: string, path: string, status: number, body: unknown): string[] {
    const op = this.operation(method, path);
    const response = this.response(op, status);
    if (!response) return [`${op.key}: status ${status} is not documented (documented: ${Object.keys(op.op.responses ?? {}).join(", ")})`];
    const json = response.node.content?.["application/json"];
    if (!json) return body === undefined ? [] : [`${op.key} ${status}: documented without a body, but one came`];
    if (body === undefined) return [`${op.key} ${status}: documented with a JSON body, but none came`];
    return this.validate(`${response.pointer}/content/application~1json/schema`, body).map((e) => `${op.key} ${status}: ${e}`);
  }

  /** Errors of a request body against the operation's request schema. */
  checkRequest(method: string, path: string, body: unknown): string[] {
    const op = this.operation(method, path);
    if (!op.op.requestBody) return body === undefined ? [] : [`${op.key}: takes no request body`];
    const { node, pointer } = this.deref(op.op.requestBody, `${op.pointer}/requestBody`);
    if (body === undefined) return node.required === true ? [`${op.key}: the request body is required`] : [];
    return this.validate(`${pointer}/content/application~1json/schema`, body).map((e) => `${op.key} request: ${e}`);
  }
}

function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || "(root)"} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ""}`);
}
