import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, takeToken, useToken, type Session } from "./api.ts";
import { Catalogue } from "./catalogue.tsx";
import type { EventType } from "./event-types.tsx";
import { DeliveryDetail, EventLookup } from "./logs.tsx";
import { ErrorMessage, Heading, Loading } from "./ui.tsx";
import { CreateWebhook, WebhookDetail, WebhookList } from "./webhooks.tsx";
import "./styles.css";

/**
 * The tenant portal: "Integrations → Webhooks" and "Webhook Logs" of RecordsKeeper.AI. Hash routes
 * (`#/webhooks`, `#/webhooks/{id}`, `#/webhooks/{id}/deliveries/{deliveryId}`, `#/events/{id}`,
 * `#/catalogue`), so the page is one file the server never needs to route.
 */
function useRoute(): string[] {
  const parse = () => location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  const [route, setRoute] = useState(parse);
  useEffect(() => {
    const on = () => setRoute(parse());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

function Expired() {
  return (
    <main id="main">
      <Heading>Your session has expired</Heading>
      <p>For your security, access to the webhooks portal is temporary.</p>
      <p>Open the webhooks portal again from RecordsKeeper.AI (Integrations → Webhooks) to start a new session.</p>
    </main>
  );
}

function App() {
  const [token] = useState(takeToken);
  const [expired, setExpired] = useState(!token);
  const [session, setSession] = useState<Session>();
  const [types, setTypes] = useState<EventType[]>();
  const [error, setError] = useState<unknown>();
  const route = useRoute();
  useToken(token, () => setExpired(true));
  useEffect(() => {
    if (!token) return;
    Promise.all([api<Session>("GET", "/session"), api<{ eventTypes: EventType[] }>("GET", "/event-types")]).then(([s, c]) => {
      setSession(s);
      setTypes(c.eventTypes);
    }, setError);
  }, [token]);

  if (expired) return <Expired />;
  if (!session || !types) {
    return <main id="main">{error ? <ErrorMessage error={error} /> : <Loading what="the webhooks portal" />}</main>;
  }
  const [section, id, sub, subId] = route;
  const current = section === "events" ? "events" : section === "catalogue" ? "catalogue" : "webhooks";
  let screen;
  if (section === "catalogue") screen = <Catalogue types={types} />;
  else if (section === "events") screen = <EventLookup session={session} eventId={id} key={id ?? ""} />;
  else if (section === "webhooks" && id === "new") screen = <CreateWebhook session={session} types={types} />;
  else if (section === "webhooks" && id && sub === "deliveries" && subId)
    screen = <DeliveryDetail session={session} webhookId={id} deliveryId={subId} key={subId} />;
  else if (section === "webhooks" && id) screen = <WebhookDetail session={session} types={types} id={id} key={id} />;
  else screen = <WebhookList session={session} />;
  const link = (href: string, name: string, label: string) => (
    <a href={href} aria-current={current === name ? "page" : undefined}>
      {label}
    </a>
  );
  return (
    <>
      <header class="top">
        <span class="brand">RecordsKeeper.AI · Integrations</span>
        <nav aria-label="Webhooks portal">
          {link("#/webhooks", "webhooks", "Webhooks")}
          {link("#/events", "events", "Find an event")}
          {link("#/catalogue", "catalogue", "Event catalogue")}
        </nav>
        {session.readOnly && <span class="badge badge-readonly">Read-only access</span>}
      </header>
      <main id="main">{screen}</main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
