/**
 * The portal's API client. The session token came in the URL fragment (never sent to a server); it is
 * kept in sessionStorage for this tab and sent only as `Authorization: Bearer`. Every call goes to
 * `/portal/api/…` on the page's own origin.
 */
const TOKEN_KEY = "rk-webhooks-portal-token";

export interface Session {
  tenantId: string;
  readOnly: boolean;
  expiresAt: string;
}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { field: string; message: string }[] = [],
  ) {
    super(message);
  }
}

/** Takes the token out of `#token=…` (then drops it from the address bar), or the one kept for this tab. */
export function takeToken(): string | null {
  const match = /^#token=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, match[1]);
    history.replaceState(null, "", `${location.pathname}${location.search}#/webhooks`);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

let token: string | null = null;
let onExpired: (code: string) => void = () => {};

export function useToken(t: string | null, expired: (code: string) => void): void {
  token = t;
  onExpired = expired;
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`/portal/api${path}`, {
      method,
      headers: { authorization: `Bearer ${token ?? ""}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
  } catch {
    throw new ApiFailure(0, "network_error", "The webhooks service could not be reached. Check your connection and try again.");
  }
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const error = json?.error ?? {};
    if (res.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      onExpired(String(error.code ?? "session_invalid"));
    }
    throw new ApiFailure(
      res.status,
      String(error.code ?? "error"),
      String(error.message ?? `The request failed (${res.status}).`),
      Array.isArray(error.details) ? error.details : [],
    );
  }
  return json as T;
}

export const tenantPath = (s: Session, rest = ""): string => `/tenants/${encodeURIComponent(s.tenantId)}${rest}`;
