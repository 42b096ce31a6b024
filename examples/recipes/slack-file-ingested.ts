import { runReceiver } from "../node-receiver/server.ts";
import { ensureOk, isMain, requireEnv, type EventHandler, type WebhookEvent } from "../shared/webhooks.ts";

/**
 * Recipe: `file.ingested` → a Slack message with a summary of the file and a link to it.
 *
 * Uses a Slack incoming webhook (Slack app → Incoming Webhooks → "Add New Webhook to Workspace"),
 * which is one unauthenticated POST of `{text, blocks}` to a secret URL
 * `https://hooks.slack.com/services/T…/B…/…`; Slack answers `200 ok`. `text` is the notification
 * fallback, `blocks` the rich message.
 *
 * Run it: `WEBHOOK_SECRET=whsec_… SLACK_WEBHOOK_URL=https://hooks.slack.com/services/… npx tsx examples/recipes/slack-file-ingested.ts`
 */

export interface SlackOptions {
  /** The incoming-webhook URL: a secret, keep it out of source control. */
  readonly webhookUrl: string;
}

type FileIngested = {
  fileId: string;
  name?: string;
  sizeBytes?: number;
  url?: string;
};

export function slackFileIngested({ webhookUrl }: SlackOptions): EventHandler {
  return async (event) => {
    if (event.type !== "file.ingested") return;
    const res = await fetch(webhookUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(slackMessage(event as WebhookEvent<FileIngested>)),
    });
    await ensureOk(res, "Slack");
  };
}

/** The message: a one-line fallback text, and blocks with the file as a link, its size and the context. */
export function slackMessage(event: WebhookEvent<FileIngested>): { text: string; blocks: unknown[] } {
  const { fileId, name, sizeBytes, url } = event.data;
  const title = escapeMrkdwn(name ?? fileId);
  const link = url && /^https?:\/\//.test(url) ? url : undefined;
  const linked = link ? `<${link}|${title}>` : title;
  const details = [sizeBytes === undefined ? undefined : formatBytes(sizeBytes), `file \`${escapeMrkdwn(fileId)}\``].filter(Boolean).join(" · ");
  return {
    text: `File ingested: ${title}${link ? ` ${link}` : ""}`,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: `:page_facing_up: *File ingested:* ${linked}\n${details}` } },
      {
        type: "context",
        elements: [
          { type: "mrkdwn", text: `RecordsKeeper.AI · account ${escapeMrkdwn(event.tenantId)} · ${event.timestamp} · event ${escapeMrkdwn(event.id)}` },
        ],
      },
    ],
  };
}

/** Slack mrkdwn treats &, < and > as control characters. */
function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

if (isMain(import.meta.url)) {
  await runReceiver(slackFileIngested({ webhookUrl: requireEnv("SLACK_WEBHOOK_URL") }), "file.ingested → Slack");
}
