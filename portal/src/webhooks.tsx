import { useState } from "preact/hooks";
import { api, ApiFailure, tenantPath, type Session } from "./api.ts";
import { EventTypePicker, type EventType } from "./event-types.tsx";
import { DeliveryLog } from "./logs.tsx";
import { ErrorMessage, formatTime, Heading, Loading, SecretPanel, StatusBadge, useLoad } from "./ui.tsx";

export interface Webhook {
  id: string;
  url: string;
  eventTypes: string[];
  description: string | null;
  enabled: boolean;
  disabledReason: string | null;
  paused: boolean;
  rateLimit: number | null;
  health: { state: "closed" | "open" | "half-open"; consecutiveFailures: number; parked: number; nextProbeAt?: string };
  createdAt: string;
  updatedAt: string;
}

/** The endpoint's health in words (docs/delivery-semantics.md): paused, failing (its circuit open), or fine. */
function describeHealth(w: Webhook): string {
  const { state, consecutiveFailures, parked, nextProbeAt } = w.health;
  const waiting = parked > 0 ? ` ${parked} ${parked === 1 ? "delivery is" : "deliveries are"} waiting.` : "";
  if (w.paused) return `Paused: deliveries wait until it is resumed.${waiting}`;
  if (state !== "closed") {
    const next = nextProbeAt ? ` Next try ${formatTime(nextProbeAt)}.` : "";
    return `Not reachable: ${consecutiveFailures} attempts in a row failed, so deliveries wait and are sent once it answers again.${waiting}${next}`;
  }
  return consecutiveFailures > 0 ? `Delivering; the last ${consecutiveFailures} attempts failed.` : "Delivering normally.";
}

/** Share of succeeded among finished deliveries in the latest page of the log. */
async function successRate(session: Session, id: string): Promise<string> {
  const page = await api<{ items: { status: string }[] }>("GET", tenantPath(session, `/webhooks/${id}/deliveries?limit=20`));
  const done = page.items.filter((d) => d.status === "succeeded" || d.status === "failed");
  if (done.length === 0) return "no deliveries yet";
  const ok = done.filter((d) => d.status === "succeeded").length;
  return `${Math.round((100 * ok) / done.length)}% of the last ${done.length}`;
}

export function WebhookList({ session }: { session: Session }) {
  const { data, error, loading } = useLoad(async () => {
    const list = await api<{ items: Webhook[] }>("GET", tenantPath(session, "/webhooks?limit=100"));
    const rates = await Promise.all(list.items.map((w) => successRate(session, w.id).catch(() => "unknown")));
    return list.items.map((w, i) => ({ ...w, rate: rates[i] }));
  }, [session.tenantId]);
  return (
    <>
      <Heading>Webhooks</Heading>
      <p class="muted">Endpoints of yours that receive RecordsKeeper.AI events the moment they happen.</p>
      {!session.readOnly && (
        <p>
          <a class="button" href="#/webhooks/new">
            Create webhook
          </a>
        </p>
      )}
      {loading && <Loading what="webhooks" />}
      <ErrorMessage error={error} />
      {data && data.length === 0 && <p class="empty">No webhooks yet.{session.readOnly ? "" : " Create one to start receiving events."}</p>}
      {data && data.length > 0 && (
        <table>
          <caption class="visually-hidden">Your webhooks</caption>
          <thead>
            <tr>
              <th scope="col">Endpoint URL</th>
              <th scope="col">Event types</th>
              <th scope="col">Status</th>
              <th scope="col">Recent success</th>
              <th scope="col">Description</th>
            </tr>
          </thead>
          <tbody>
            {data.map((w) => (
              <tr key={w.id}>
                <td>
                  <a href={`#/webhooks/${w.id}`} class="url">
                    {w.url}
                  </a>
                </td>
                <td>{w.eventTypes.join(", ")}</td>
                <td>
                  <StatusBadge status={w.enabled ? "enabled" : "disabled"} />
                </td>
                <td>{w.rate}</td>
                <td>{w.description ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function WebhookForm({
  types,
  initial,
  submitLabel,
  onSubmit,
  onCancel,
}: {
  types: EventType[];
  initial: { url: string; description: string; eventTypes: string[] };
  submitLabel: string;
  onSubmit: (v: { url: string; description: string; eventTypes: string[] }) => Promise<void>;
  onCancel?: () => void;
}) {
  const [url, setUrl] = useState(initial.url);
  const [description, setDescription] = useState(initial.description);
  const [eventTypes, setEventTypes] = useState(initial.eventTypes);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await onSubmit({ url: url.trim(), description, eventTypes });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} class="form">
      <label for="wh-url">Endpoint URL</label>
      <input
        id="wh-url"
        type="text"
        inputMode="url"
        autoComplete="off"
        spellcheck={false}
        value={url}
        onInput={(e) => setUrl((e.target as HTMLInputElement).value)}
        placeholder="https://example.com/webhooks"
        required
      />
      <label for="wh-description">Description (optional)</label>
      <input id="wh-description" type="text" value={description} maxLength={500} onInput={(e) => setDescription((e.target as HTMLInputElement).value)} />
      <EventTypePicker types={types} selected={eventTypes} onChange={setEventTypes} />
      <ErrorMessage error={error} />
      <div class="actions">
        <button type="submit" disabled={busy}>
          {submitLabel}
        </button>
        {onCancel && (
          <button type="button" class="secondary" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

export function CreateWebhook({ session, types }: { session: Session; types: EventType[] }) {
  const [created, setCreated] = useState<(Webhook & { secret: string }) | undefined>();
  if (session.readOnly) return <ReadOnlyNotice />;
  return (
    <>
      <Heading>Create webhook</Heading>
      {created ? (
        <SecretPanel secret={created.secret} title="Signing secret">
          <p>
            Webhook created for <span class="url">{created.url}</span>. <a href={`#/webhooks/${created.id}`}>Open the webhook</a>
          </p>
        </SecretPanel>
      ) : (
        <WebhookForm
          types={types}
          initial={{ url: "", description: "", eventTypes: [] }}
          submitLabel="Create webhook"
          onSubmit={async (v) => {
            const body = { url: v.url, eventTypes: v.eventTypes, ...(v.description ? { description: v.description } : {}) };
            setCreated(await api("POST", tenantPath(session, "/webhooks"), body));
          }}
        />
      )}
    </>
  );
}

function ReadOnlyNotice() {
  return (
    <>
      <Heading>Read-only access</Heading>
      <p>This session can look at webhooks and their logs but cannot change anything.</p>
    </>
  );
}

export function WebhookDetail({ session, types, id }: { session: Session; types: EventType[]; id: string }) {
  const { data: loaded, error, loading, reload } = useLoad(() => api<Webhook>("GET", tenantPath(session, `/webhooks/${id}`)), [id]);
  const [hook, setHook] = useState<Webhook | undefined>();
  const [editing, setEditing] = useState(false);
  const [message, setMessage] = useState("");
  const [actionError, setActionError] = useState<unknown>();
  const [rotated, setRotated] = useState<{ secret: string; previousSecretsExpireAt: string | null } | undefined>();
  const [grace, setGrace] = useState("24");
  const [testType, setTestType] = useState("");
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [logTick, setLogTick] = useState(0);
  const w = hook && hook.id === id ? hook : loaded;
  if (loading && !w) return <Loading what="the webhook" />;
  if (!w) {
    return (
      <>
        <Heading>Webhook not found</Heading>
        <ErrorMessage error={error} />
        <p>
          <a href="#/webhooks">Back to webhooks</a>
        </p>
      </>
    );
  }
  const act = async (what: () => Promise<void>) => {
    setActionError(undefined);
    setMessage("");
    try {
      await what();
    } catch (err) {
      setActionError(err);
    }
  };
  const path = tenantPath(session, `/webhooks/${w.id}`);
  return (
    <>
      <p>
        <a href="#/webhooks">← Webhooks</a>
      </p>
      <Heading>
        Webhook <span class="url">{w.url}</span>
      </Heading>
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={w.enabled ? "enabled" : "disabled"} /> {w.disabledReason ? `(${w.disabledReason})` : ""}
        </dd>
        <dt>Delivery health</dt>
        <dd>{describeHealth(w)}</dd>
        {w.rateLimit !== null && (
          <>
            <dt>Rate limit</dt>
            <dd>{w.rateLimit} deliveries per second</dd>
          </>
        )}
        <dt>Event types</dt>
        <dd>{w.eventTypes.join(", ")}</dd>
        <dt>Description</dt>
        <dd>{w.description ?? "—"}</dd>
        <dt>Webhook id</dt>
        <dd>
          <code>{w.id}</code>
        </dd>
        <dt>Created</dt>
        <dd>{formatTime(w.createdAt)}</dd>
      </dl>
      <p role="status" class="notice">
        {message}
      </p>
      <ErrorMessage error={actionError} />
      {rotated && (
        <SecretPanel secret={rotated.secret} title="New signing secret">
          <p>
            {rotated.previousSecretsExpireAt
              ? `The previous secret keeps signing too until ${formatTime(rotated.previousSecretsExpireAt)}: every request carries both signatures until then.`
              : "The previous secret stopped signing now."}
          </p>
        </SecretPanel>
      )}
      {!session.readOnly && !editing && (
        <section aria-labelledby="manage-title" class="panel">
          <h2 id="manage-title">Manage</h2>
          <div class="actions">
            <button type="button" onClick={() => setEditing(true)}>
              Edit webhook
            </button>
            <button
              type="button"
              onClick={() =>
                act(async () => {
                  setHook(await api("PATCH", path, { enabled: !w.enabled }));
                  setMessage(w.enabled ? "Webhook disabled." : "Webhook enabled.");
                })
              }
            >
              {w.enabled ? "Disable webhook" : "Enable webhook"}
            </button>
          </div>
          <form
            class="inline"
            onSubmit={(e) => {
              e.preventDefault();
              act(async () => {
                const body = testType ? { type: testType } : {};
                const sent = await api<{ eventId: string; deliveryId: string; type: string }>("POST", `${path}/test`, body);
                setMessage(`Test event ${sent.type} sent (event ${sent.eventId}).`);
                setLogTick((t) => t + 1);
              });
            }}
          >
            <label for="test-type">Test event type</label>
            <select id="test-type" value={testType} onChange={(e) => setTestType((e.target as HTMLSelectElement).value)}>
              <option value="">First type the webhook receives</option>
              {types.map((t) => (
                <option key={t.name} value={t.name}>
                  {t.name}
                </option>
              ))}
            </select>
            <button type="submit">Send test event</button>
          </form>
          <form
            class="inline"
            onSubmit={(e) => {
              e.preventDefault();
              act(async () => {
                const hours = Number(grace);
                if (!Number.isFinite(hours) || hours < 0 || hours > 168)
                  throw new ApiFailure(400, "validation_failed", "The grace period must be between 0 and 168 hours.");
                setRotated(await api("POST", `${path}/rotate-secret`, { graceSeconds: Math.round(hours * 3600) }));
                setMessage("Secret rotated.");
              });
            }}
          >
            <label for="grace">Grace period for the old secret (hours)</label>
            <input id="grace" type="number" min={0} max={168} step="any" value={grace} onInput={(e) => setGrace((e.target as HTMLInputElement).value)} />
            <button type="submit">Rotate secret</button>
          </form>
          <div class="actions">
            {confirmDelete ? (
              <>
                <button
                  type="button"
                  class="danger"
                  onClick={() =>
                    act(async () => {
                      await api("DELETE", path);
                      location.hash = "#/webhooks";
                    })
                  }
                >
                  Yes, delete this webhook
                </button>
                <button type="button" class="secondary" onClick={() => setConfirmDelete(false)}>
                  Keep it
                </button>
              </>
            ) : (
              <button type="button" class="danger" onClick={() => setConfirmDelete(true)}>
                Delete webhook
              </button>
            )}
          </div>
        </section>
      )}
      {editing && (
        <section aria-labelledby="edit-title" class="panel">
          <h2 id="edit-title">Edit webhook</h2>
          <WebhookForm
            types={types}
            initial={{ url: w.url, description: w.description ?? "", eventTypes: w.eventTypes }}
            submitLabel="Save changes"
            onCancel={() => setEditing(false)}
            onSubmit={async (v) => {
              setHook(await api("PATCH", path, { url: v.url, eventTypes: v.eventTypes, description: v.description || null }));
              setEditing(false);
              setMessage("Changes saved.");
              reload();
            }}
          />
        </section>
      )}
      <DeliveryLog session={session} webhookId={w.id} refresh={logTick} />
    </>
  );
}
