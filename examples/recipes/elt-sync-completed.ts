import { runReceiver } from "../node-receiver/server.ts";
import { ensureOk, isMain, requireEnv, type EventHandler, type WebhookEvent } from "../shared/webhooks.ts";

/**
 * Recipe: `sync.completed` → start the ELT job that loads the synced data, and/or refresh the
 * dashboard that reads it.
 *
 * - Apache Airflow 2 stable REST API: `POST {baseUrl}/api/v1/dags/{dagId}/dagRuns` with
 *   `{dag_run_id, conf}` (basic auth here; Airflow 3 moved to `/api/v2` with a bearer token). The
 *   run id is derived from the event id, so a second delivery of the same event gets `409 Conflict`
 *   from Airflow instead of a second run: that counts as done.
 * - Power BI: `POST https://api.powerbi.com/v1.0/myorg/groups/{groupId}/datasets/{datasetId}/refreshes`
 *   with an Entra ID (Azure AD) access token; Power BI answers `202 Accepted`.
 *
 * Run it: `WEBHOOK_SECRET=whsec_… AIRFLOW_BASE=http://airflow:8080 AIRFLOW_DAG_ID=load_recordskeeper AIRFLOW_USERNAME=… AIRFLOW_PASSWORD=… npx tsx examples/recipes/elt-sync-completed.ts`
 */

export interface EltOptions {
  readonly airflow?: { readonly baseUrl: string; readonly dagId: string; readonly username: string; readonly password: string };
  readonly powerBi?: {
    readonly groupId: string;
    readonly datasetId: string;
    /** A token for the Power BI API (client-credentials flow); a function to fetch a fresh one per call. */
    readonly accessToken: string | (() => Promise<string>);
    /** Default https://api.powerbi.com */
    readonly apiBase?: string;
  };
}

type SyncCompleted = {
  syncId: string;
  source?: string;
  recordsSynced?: number;
};

export function eltSyncCompleted(o: EltOptions): EventHandler {
  return async (event) => {
    if (event.type !== "sync.completed") return;
    const sync = event as WebhookEvent<SyncCompleted>;
    if (o.airflow) await triggerDag(sync, o.airflow);
    if (o.powerBi) await refreshDataset(o.powerBi);
  };
}

async function triggerDag(event: WebhookEvent<SyncCompleted>, a: NonNullable<EltOptions["airflow"]>): Promise<void> {
  const { syncId, source, recordsSynced } = event.data;
  const res = await fetch(`${a.baseUrl.replace(/\/+$/, "")}/api/v1/dags/${encodeURIComponent(a.dagId)}/dagRuns`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${a.username}:${a.password}`).toString("base64")}`,
      accept: "application/json",
      "content-type": "application/json",
    },
    body: JSON.stringify({
      // Airflow's default allowed run-id pattern is ^[A-Za-z0-9_.~:+-]+$.
      dag_run_id: `recordskeeper__${event.id.replace(/[^A-Za-z0-9_.~:+-]/g, "_")}`,
      // What the DAG reads as `dag_run.conf`.
      conf: { eventId: event.id, tenantId: event.tenantId, syncId, source: source ?? null, recordsSynced: recordsSynced ?? null, completedAt: event.timestamp },
    }),
  });
  if (res.status === 409) return; // this event already started its run
  await ensureOk(res, "Airflow");
}

async function refreshDataset(p: NonNullable<EltOptions["powerBi"]>): Promise<void> {
  const token = typeof p.accessToken === "string" ? p.accessToken : await p.accessToken();
  const base = (p.apiBase ?? "https://api.powerbi.com").replace(/\/+$/, "");
  const res = await fetch(`${base}/v1.0/myorg/groups/${encodeURIComponent(p.groupId)}/datasets/${encodeURIComponent(p.datasetId)}/refreshes`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ notifyOption: "NoNotification" }),
  });
  await ensureOk(res, "Power BI");
}

if (isMain(import.meta.url)) {
  const handler = eltSyncCompleted({
    airflow: {
      baseUrl: requireEnv("AIRFLOW_BASE"),
      dagId: requireEnv("AIRFLOW_DAG_ID"),
      username: requireEnv("AIRFLOW_USERNAME"),
      password: requireEnv("AIRFLOW_PASSWORD"),
    },
    ...(process.env.POWERBI_GROUP_ID
      ? { powerBi: { groupId: process.env.POWERBI_GROUP_ID, datasetId: requireEnv("POWERBI_DATASET_ID"), accessToken: requireEnv("POWERBI_ACCESS_TOKEN") } }
      : {}),
  });
  await runReceiver(handler, "sync.completed → Airflow DAG run" + (process.env.POWERBI_GROUP_ID ? " + Power BI refresh" : ""));
}
