import { useEffect, useState } from "preact/hooks";
import { api, tenantPath, type Session } from "./api.ts";
import { ErrorMessage, formatTime, Heading, Json, Loading, StatusBadge, useLoad } from "./ui.tsx";

interface Attempt {
  n: number;
  at: string;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  responseExcerpt: string | null;
}

interface Delivery {
  id: string;
  webhookId: string;
  eventId: string;
  eventType: string;
  status: string;
  attemptCount: number;
  nextAttemptAt: string | null;
  reason: string | null;
  replayOf: string | null;
  createdAt: string;
  updatedAt: string;
  lastAttempt?: Attempt | null;
  attempts?: Attempt[];
}

const outcome = (a: Attempt | null | undefined): string => (!a ? "—" : a.statusCode !== null ? `HTTP ${a.statusCode}` : (a.error ?? "no response"));

/** Webhook Logs of one webhook: newest first, filtered by status, paginated; replay of a time window. */
export function DeliveryLog({ session, webhookId, refresh }: { session: Session; webhookId: string; refresh: number }) {
  const [status, setStatus] = useState("");
  const [cursors, setCursors] = useState<string[]>([]);
  const [tick, setTick] = useState(0);
  const cursor = cursors[cursors.length - 1];
  const { data, error, loading } = useLoad(
    () =>
      api<{ items: Delivery[]; cursor: string | null }>(
        "GET",
        tenantPath(
          session,
          `/webhooks/${webhookId}/deliveries?limit=20${status ? `&status=${status}` : ""}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
        ),
      ),
    [webhookId, status, cursor, refresh, tick],
  );
  // While a delivery is still being attempted, look again every few seconds.
  const pending = data?.items.some((d) => d.status === "pending");
  useEffect(() => {
    if (!pending) return;
    const timer = setTimeout(() => setTick((t) => t + 1), 3_000);
    return () => clearTimeout(timer);
  }, [pending, data]);

  const [since, setSince] = useState("");
  const [recovered, setRecovered] = useState("");
  const [recoverError, setRecoverError] = useState<unknown>();
  const recover = async (e: Event) => {
    e.preventDefault();
    setRecovered("");
    setRecoverError(undefined);
    try {
      const when = new Date(since);
      if (!since || Number.isNaN(when.getTime())) throw new Error("Choose the date and time to recover from.");
      const r = await api<{ replayed: number; matched: number; truncated: boolean }>("POST", tenantPath(session, `/webhooks/${webhookId}/replay`), {
        since: when.toISOString(),
      });
      setRecovered(`${r.replayed} failed ${r.replayed === 1 ? "delivery" : "deliveries"} sent again${r.truncated ? " (more remain: recover again)" : ""}.`);
      setTick((t) => t + 1);
    } catch (err) {
      setRecoverError(err);
    }
  };

  return (
    <section aria-labelledby="logs-title" class="panel">
      <h2 id="logs-title">Webhook Logs</h2>
      <div class="toolbar">
        <label for="status-filter">Status</label>
        <select
          id="status-filter"
          value={status}
          onChange={(e) => {
            setStatus((e.target as HTMLSelectElement).value);
            setCursors([]);
          }}
        >
          <option value="">All statuses</option>
          <option value="succeeded">Succeeded</option>
          <option value="failed">Failed</option>
          <option value="pending">Pending</option>
          <option value="skipped">Skipped</option>
        </select>
        <button type="button" class="secondary" onClick={() => setTick((t) => t + 1)}>
          Refresh
        </button>
      </div>
      {loading && !data && <Loading what="deliveries" />}
      <ErrorMessage error={error} />
      {data && data.items.length === 0 && (
        <p class="empty">
          {cursor
            ? "No more deliveries."
            : status
              ? `No ${status} deliveries.`
              : session.readOnly
                ? "No deliveries yet."
                : "No deliveries yet — send a test event."}
        </p>
      )}
      {data && data.items.length > 0 && (
        <table>
          <caption class="visually-hidden">Deliveries, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Delivery</th>
              <th scope="col">Time</th>
              <th scope="col">Event type</th>
              <th scope="col">Status</th>
              <th scope="col">Attempts</th>
              <th scope="col">Last response</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((d) => (
              <tr key={d.id}>
                <td>
                  <a href={`#/webhooks/${webhookId}/deliveries/${d.id}`}>{d.id}</a>
                </td>
                <td>{formatTime(d.createdAt)}</td>
                <td>{d.eventType}</td>
                <td>
                  <StatusBadge status={d.status} />
                </td>
                <td>{d.attemptCount}</td>
                <td>{outcome(d.lastAttempt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="actions">
        {cursors.length > 0 && (
          <button type="button" class="secondary" onClick={() => setCursors(cursors.slice(0, -1))}>
            Previous page
          </button>
        )}
        {data?.cursor && (
          <button type="button" class="secondary" onClick={() => setCursors([...cursors, data.cursor!])}>
            Next page
          </button>
        )}
      </div>
      {!session.readOnly && (
        <form class="inline" onSubmit={recover}>
          <label for="recover-since">Recover failed since</label>
          <input id="recover-since" type="datetime-local" step={1} value={since} onInput={(e) => setSince((e.target as HTMLInputElement).value)} />
          <button type="submit">Recover failed deliveries</button>
          <span role="status">{recovered}</span>
        </form>
      )}
      <ErrorMessage error={recoverError} />
    </section>
  );
}

function AttemptsTable({ attempts }: { attempts: Attempt[] }) {
  if (attempts.length === 0) return <p class="empty">No attempt yet.</p>;
  return (
    <table>
      <caption>Attempts</caption>
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">Time</th>
          <th scope="col">Status code</th>
          <th scope="col">Duration</th>
          <th scope="col">Error</th>
          <th scope="col">Response excerpt</th>
        </tr>
      </thead>
      <tbody>
        {attempts.map((a) => (
          <tr key={a.n}>
            <td>{a.n}</td>
            <td>{formatTime(a.at)}</td>
            <td>{a.statusCode ?? "none"}</td>
            <td>{a.durationMs} ms</td>
            <td>{a.error ?? ""}</td>
            <td>{a.responseExcerpt ? <pre class="excerpt">{a.responseExcerpt}</pre> : ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function DeliveryDetail({ session, webhookId, deliveryId }: { session: Session; webhookId: string; deliveryId: string }) {
  const [tick, setTick] = useState(0);
  const {
    data: d,
    error,
    loading,
  } = useLoad(() => api<Delivery>("GET", tenantPath(session, `/webhooks/${webhookId}/deliveries/${deliveryId}`)), [webhookId, deliveryId, tick]);
  const [retried, setRetried] = useState<string | undefined>();
  const [retryError, setRetryError] = useState<unknown>();
  useEffect(() => {
    if (d?.status !== "pending") return;
    const timer = setTimeout(() => setTick((t) => t + 1), 3_000);
    return () => clearTimeout(timer);
  }, [d]);
  const retry = async () => {
    setRetryError(undefined);
    try {
      const r = await api<{ deliveryId: string }>("POST", tenantPath(session, `/webhooks/${webhookId}/deliveries/${deliveryId}/retry`));
      setRetried(r.deliveryId);
    } catch (err) {
      setRetryError(err);
    }
  };
  return (
    <>
      <p>
        <a href={`#/webhooks/${webhookId}`}>← Webhook</a>
      </p>
      <Heading>Delivery {deliveryId}</Heading>
      {loading && !d && <Loading what="the delivery" />}
      <ErrorMessage error={error} />
      {d && (
        <>
          <dl class="facts">
            <dt>Status</dt>
            <dd>
              <StatusBadge status={d.status} /> {d.reason ?? ""}
            </dd>
            <dt>Event</dt>
            <dd>
              <a href={`#/events/${encodeURIComponent(d.eventId)}`}>{d.eventId}</a> ({d.eventType})
            </dd>
            <dt>Created</dt>
            <dd>{formatTime(d.createdAt)}</dd>
            <dt>Next attempt</dt>
            <dd>{d.status === "pending" ? formatTime(d.nextAttemptAt) : "—"}</dd>
            {d.replayOf && (
              <>
                <dt>Replay of</dt>
                <dd>
                  <a href={`#/webhooks/${webhookId}/deliveries/${d.replayOf}`}>{d.replayOf}</a>
                </dd>
              </>
            )}
          </dl>
          {!session.readOnly && (
            <div class="actions">
              <button type="button" onClick={retry}>
                Retry
              </button>
              {retried && (
                <span role="status">
                  Sent again as <a href={`#/webhooks/${webhookId}/deliveries/${retried}`}>{retried}</a>.
                </span>
              )}
            </div>
          )}
          <ErrorMessage error={retryError} />
          <AttemptsTable attempts={d.attempts ?? []} />
        </>
      )}
    </>
  );
}

/** Find an event by id across every webhook: the event and its delivery to each one. */
export function EventLookup({ session, eventId }: { session: Session; eventId?: string }) {
  const [input, setInput] = useState(eventId ?? "");
  const { data, error, loading } = useLoad(
    async () => (eventId ? api<{ event: any; deliveries: Delivery[] }>("GET", tenantPath(session, `/events/${encodeURIComponent(eventId)}`)) : undefined),
    [eventId],
  );
  return (
    <>
      <Heading>Find an event</Heading>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          if (input.trim()) location.hash = `#/events/${encodeURIComponent(input.trim())}`;
        }}
      >
        <label for="event-id">Event id</label>
        <input id="event-id" type="text" autoComplete="off" spellcheck={false} value={input} onInput={(e) => setInput((e.target as HTMLInputElement).value)} />
        <button type="submit">Find event</button>
      </form>
      {eventId && loading && <Loading what="the event" />}
      <ErrorMessage error={error} />
      {data && (
        <>
          <h2>
            Event <code>{data.event.id}</code>
          </h2>
          <dl class="facts">
            <dt>Type</dt>
            <dd>{data.event.type}</dd>
            <dt>Time</dt>
            <dd>{formatTime(data.event.timestamp)}</dd>
          </dl>
          <h3>Data</h3>
          <Json value={data.event.data} label="Event data" />
          <h3>Deliveries</h3>
          {data.deliveries.length === 0 ? (
            <p class="empty">No webhook was subscribed to this event when it happened.</p>
          ) : (
            <table>
              <caption class="visually-hidden">Deliveries of this event</caption>
              <thead>
                <tr>
                  <th scope="col">Delivery</th>
                  <th scope="col">Webhook</th>
                  <th scope="col">Status</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Last response</th>
                </tr>
              </thead>
              <tbody>
                {data.deliveries.map((d) => (
                  <tr key={d.id}>
                    <td>
                      <a href={`#/webhooks/${d.webhookId}/deliveries/${d.id}`}>{d.id}</a>
                    </td>
                    <td>
                      <a href={`#/webhooks/${d.webhookId}`}>{d.webhookId}</a>
                    </td>
                    <td>
                      <StatusBadge status={d.status} />
                    </td>
                    <td>{d.attemptCount}</td>
                    <td>{outcome(d.attempts?.[d.attempts.length - 1])}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </>
  );
}
