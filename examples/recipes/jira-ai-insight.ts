import { runReceiver } from "../node-receiver/server.ts";
import { ensureOk, isMain, requireEnv, type EventHandler, type WebhookEvent } from "../shared/webhooks.ts";

/**
 * Recipe: `ai.insight.generated` → a Jira issue pre-filled with the insight and its context.
 *
 * Jira Cloud REST API v3: `POST {baseUrl}/rest/api/3/issue` with basic auth `email:api-token`
 * (https://id.atlassian.com/manage-profile/security/api-tokens); the description is in Atlassian
 * Document Format (ADF). Jira answers `201 {"id", "key", "self"}`.
 *
 * Priorities and issue types are per-site names: check yours (`GET /rest/api/3/priority`), and pass
 * `priorities: null` if the project's create screen has no priority field (Jira refuses unknown fields).
 *
 * Run it: `WEBHOOK_SECRET=whsec_… JIRA_BASE=https://your-site.atlassian.net JIRA_EMAIL=… JIRA_API_TOKEN=… JIRA_PROJECT=RK npx tsx examples/recipes/jira-ai-insight.ts`
 */

type Severity = "info" | "low" | "medium" | "high";

export interface JiraOptions {
  /** `https://your-site.atlassian.net` */
  readonly baseUrl: string;
  readonly email: string;
  readonly apiToken: string;
  readonly projectKey: string;
  /** Default "Task". */
  readonly issueType?: string;
  /** Added to every issue, with `severity-<severity>`. Default ["recordskeeper", "ai-insight"]. */
  readonly labels?: readonly string[];
  /** Jira priority name per insight severity; null sends no priority. */
  readonly priorities?: Readonly<Record<Severity, string>> | null;
  /** A link to the record in RecordsKeeper.AI, if you want one in the issue. */
  readonly recordLink?: (recordId: string) => string;
}

export const DEFAULT_PRIORITIES: Readonly<Record<Severity, string>> = { high: "High", medium: "Medium", low: "Low", info: "Lowest" };

type Insight = {
  insightId: string;
  recordId?: string;
  summary?: string;
  severity?: Severity;
};

export function jiraAiInsight(o: JiraOptions): EventHandler {
  const auth = `Basic ${Buffer.from(`${o.email}:${o.apiToken}`).toString("base64")}`;
  return async (event) => {
    if (event.type !== "ai.insight.generated") return;
    const res = await fetch(`${o.baseUrl.replace(/\/+$/, "")}/rest/api/3/issue`, {
      method: "POST",
      headers: { authorization: auth, accept: "application/json", "content-type": "application/json" },
      body: JSON.stringify(jiraIssue(event as WebhookEvent<Insight>, o)),
    });
    await ensureOk(res, "Jira");
  };
}

/** The create-issue request body. */
export function jiraIssue(event: WebhookEvent<Insight>, o: JiraOptions) {
  const { insightId, recordId, summary, severity } = event.data;
  const priorities = o.priorities === undefined ? DEFAULT_PRIORITIES : o.priorities;
  const headline = summary?.trim() || `Insight ${insightId}${recordId ? ` on record ${recordId}` : ""}`;
  return {
    fields: {
      project: { key: o.projectKey },
      issuetype: { name: o.issueType ?? "Task" },
      // Jira summaries are one line of at most 255 characters.
      summary: oneLine(`AI insight${severity ? ` (${severity})` : ""}: ${headline}`, 255),
      description: description(event, o.recordLink),
      labels: [...(o.labels ?? ["recordskeeper", "ai-insight"]), ...(severity ? [`severity-${severity}`] : [])],
      ...(severity && priorities ? { priority: { name: priorities[severity] } } : {}),
    },
  };
}

/** ADF: the insight as a paragraph, then its context as a bullet list. */
function description(event: WebhookEvent<Insight>, recordLink?: (recordId: string) => string) {
  const { insightId, recordId, summary, severity } = event.data;
  const text = (value: string, marks?: object[]) => ({ type: "text", text: value, ...(marks ? { marks } : {}) });
  const paragraph = (...content: object[]) => ({ type: "paragraph", content });
  const facts: [string, string, string?][] = [
    ["Insight", insightId],
    ...(recordId ? [["Record", recordId, recordLink?.(recordId)] as [string, string, string?]] : []),
    ...(severity ? [["Severity", severity] as [string, string]] : []),
    ["Account", event.tenantId],
    ["Generated at", event.timestamp],
    ["Event", `${event.type} ${event.id}`],
  ];
  return {
    type: "doc",
    version: 1,
    content: [
      paragraph(text(summary?.trim() || "The RecordsKeeper.AI assistant produced an insight (no summary given).")),
      {
        type: "bulletList",
        content: facts.map(([label, value, href]) => ({
          type: "listItem",
          content: [paragraph(text(`${label}: `, [{ type: "strong" }]), text(value, href ? [{ type: "link", attrs: { href } }] : undefined))],
        })),
      },
      paragraph(text("Created from a RecordsKeeper.AI webhook.", [{ type: "em" }])),
    ],
  };
}

function oneLine(s: string, max: number): string {
  const flat = s.replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

if (isMain(import.meta.url)) {
  const handler = jiraAiInsight({
    baseUrl: requireEnv("JIRA_BASE"),
    email: requireEnv("JIRA_EMAIL"),
    apiToken: requireEnv("JIRA_API_TOKEN"),
    projectKey: requireEnv("JIRA_PROJECT"),
  });
  await runReceiver(handler, "ai.insight.generated → Jira");
}
