import { CliError } from "./errors.ts";

/** A request about to be sent, as an authoriser sees it. */
export interface OutgoingRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

/** Adds the credentials a target wants: a bearer token locally, a SigV4 signature on AWS. */
export type Authorizer = (req: OutgoingRequest) => Promise<Record<string, string>>;

/**
 * A small client for the webhooks API (design §6). Every non-2xx answer becomes a CliError that
 * carries the API's own error message; a network failure becomes one that names the URL.
 */
export class ApiClient {
  constructor(
    /** The API's base URL, e.g. `http://127.0.0.1:3000` or `https://abc.execute-api.eu-west-1.amazonaws.com/`. */
    readonly baseUrl: string,
    private readonly authorize: Authorizer,
  ) {}

  /** The URL of `path` (which starts with `/`) under the base URL, keeping any base path (a stage). */
  url(path: string, query: Record<string, string | number | undefined> = {}): URL {
    const base = new URL(this.baseUrl);
    const url = new URL(`${base.pathname.replace(/\/$/, "")}${path}`, base);
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    return url;
  }

  async request<T = any>(method: string, path: string, o: { query?: Record<string, string | number | undefined>; body?: unknown } = {}): Promise<T> {
    const req: OutgoingRequest = {
      method,
      url: this.url(path, o.query),
      headers: { accept: "application/json" },
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
    };
    if (req.body !== undefined) req.headers["content-type"] = "application/json";
    const headers = { ...req.headers, ...(await this.authorize(req)) };
    let res: Response;
    try {
      res = await fetch(req.url, { method, headers, body: req.body });
    } catch (err) {
      const cause = (err as { cause?: Error }).cause;
      throw new CliError(`cannot reach ${req.url.origin}: ${cause?.message ?? (err as Error).message}`);
    }
    const text = await res.text();
    let body: any;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const e = body?.error ?? {};
      // API Gateway's own refusals (IAM) are `{"message": "Forbidden"}`.
      const message = e.message ?? body?.message ?? (text.trim() || res.statusText);
      throw new CliError(message, res.status, e.code, Array.isArray(e.details) ? e.details : []);
    }
    return body as T;
  }

  get<T = any>(path: string, query?: Record<string, string | number | undefined>): Promise<T> {
    return this.request<T>("GET", path, { query });
  }

  post<T = any>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>("POST", path, { body });
  }
}

/** The local stack's authorisation: the bearer token `npm start` printed and wrote to its state file. */
export const bearer =
  (token: string): Authorizer =>
  async () => ({ authorization: `Bearer ${token}` });
