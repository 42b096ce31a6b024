import { Json } from "./ui.tsx";

export interface EventType {
  name: string;
  description: string;
  schema: unknown;
  example: unknown;
}

/** Family wildcards offered by the picker: `record.*` for every type starting with `record.`. */
export function families(types: EventType[]): string[] {
  return [...new Set(types.map((t) => t.name.split(".")[0]))].map((f) => `${f}.*`);
}

/** Checkboxes for `*`, each family wildcard and each type, with its description and example payload. */
export function EventTypePicker({ types, selected, onChange }: { types: EventType[]; selected: string[]; onChange: (next: string[]) => void }) {
  const toggle = (pattern: string, on: boolean) => onChange(on ? [...selected.filter((p) => p !== pattern), pattern] : selected.filter((p) => p !== pattern));
  const box = (pattern: string, label: string, describedBy?: string) => (
    <label class="check">
      <input
        type="checkbox"
        checked={selected.includes(pattern)}
        onChange={(e) => toggle(pattern, (e.target as HTMLInputElement).checked)}
        aria-describedby={describedBy}
      />{" "}
      {label}
    </label>
  );
  return (
    <fieldset class="picker">
      <legend>Event types</legend>
      <div class="wildcards">
        {box("*", "All event types (*)")}
        {families(types).map((f) => (
          <span key={f}>{box(f, `Every ${f.slice(0, -2)} event (${f})`)}</span>
        ))}
      </div>
      <ul class="types">
        {types.map((t) => {
          const id = `type-${t.name.replaceAll(".", "-")}`;
          return (
            <li key={t.name}>
              {box(t.name, t.name, `${id}-desc`)}
              <p id={`${id}-desc`} class="muted">
                {t.description}
              </p>
              <details>
                <summary>Example payload of {t.name}</summary>
                <Json value={t.example} label={`Example payload of ${t.name}`} />
              </details>
            </li>
          );
        })}
      </ul>
    </fieldset>
  );
}
