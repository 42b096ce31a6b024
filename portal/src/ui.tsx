import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiFailure } from "./api.ts";

/** Every string from the API is rendered as a text node by Preact (never as HTML). */

export function Loading({ what }: { what: string }) {
  return (
    <p role="status" class="muted">
      Loading {what}…
    </p>
  );
}

export function ErrorMessage({ error }: { error: unknown }) {
  if (!error) return null;
  const e = error instanceof ApiFailure ? error : new ApiFailure(0, "error", String((error as Error)?.message ?? error));
  return (
    <div role="alert" class="error">
      <p>{e.message}</p>
      {e.details.length > 1 && (
        <ul>
          {e.details.map((d) => (
            <li key={d.field}>
              <code>{d.field}</code>: {d.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** A screen's heading, focused when the screen opens so keyboard and screen-reader users land on it. */
export function Heading({ children }: { children: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <h1 tabIndex={-1} ref={ref}>
      {children}
    </h1>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${status}`}>{status}</span>;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function Json({ value, label }: { value: unknown; label: string }) {
  return (
    // A scrollable block must take keyboard focus (axe: scrollable-region-focusable), and the label names it.
    // biome-ignore lint/a11y/noNoninteractiveTabindex: focusable so a keyboard can scroll it
    // biome-ignore lint/a11y/useAriaPropsSupportedByRole: the label names the focused block for screen readers
    <pre class="json" aria-label={label} tabIndex={0}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** Loads `load()` on mount and whenever `deps` change; `reload` runs it again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data?: T; error?: unknown; loading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

/** The signing secret, shown once, with a copy button and how to verify with it. */
export function SecretPanel({ secret, title, children }: { secret: string; title: string; children?: ComponentChildren }) {
  const [copied, setCopied] = useState<string>("");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied("Copied to the clipboard.");
    } catch {
      const range = document.createRange();
      range.selectNodeContents(document.getElementById("signing-secret")!);
      getSelection()?.removeAllRanges();
      getSelection()?.addRange(range);
      setCopied("Selected: press Ctrl+C (⌘C) to copy.");
    }
  };
  return (
    <section class="secret" aria-labelledby="secret-title">
      <h2 id="secret-title">{title}</h2>
      <p>Copy it now: it is shown only once.</p>
      <p>
        <code id="signing-secret" class="secret-value">
          {secret}
        </code>
      </p>
      <button type="button" onClick={copy}>
        Copy secret
      </button>{" "}
      <span role="status">{copied}</span>
      <p class="muted">
        Verify every request with this secret: each one carries <code>webhook-id</code>, <code>webhook-timestamp</code> and <code>webhook-signature</code>{" "}
        headers (Standard Webhooks). Any Standard Webhooks library checks them, e.g. <code>new Webhook(secret).verify(body, headers)</code> with npm{" "}
        <code>standardwebhooks</code>; see the{" "}
        <a href="https://www.standardwebhooks.com/" target="_blank" rel="noreferrer noopener">
          receiving guide
        </a>
        .
      </p>
      {children}
    </section>
  );
}
