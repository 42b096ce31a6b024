import type { EventType } from "./event-types.tsx";
import { Heading, Json } from "./ui.tsx";

export function Catalogue({ types }: { types: EventType[] }) {
  return (
    <>
      <Heading>Event catalogue</Heading>
      <p class="muted">
        Every event type a webhook can receive. Subscribe to a type, a family (<code>record.*</code>) or everything (<code>*</code>).
      </p>
      {types.map((t) => (
        <section key={t.name} class="panel" aria-labelledby={`cat-${t.name}`}>
          <h2 id={`cat-${t.name}`}>
            <code>{t.name}</code>
          </h2>
          <p>{t.description}</p>
          <h3>Example payload</h3>
          <Json value={t.example} label={`Example payload of ${t.name}`} />
          <details>
            <summary>JSON Schema of data for {t.name}</summary>
            <Json value={t.schema} label={`JSON Schema of ${t.name}`} />
          </details>
        </section>
      ))}
    </>
  );
}
