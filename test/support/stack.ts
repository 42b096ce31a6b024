import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { RetrySchedule } from "#core/retry.ts";
import { startLocalStack, type LocalStack, type LocalStackOptions } from "../../local/stack.ts";

/** A local stack on free ports, in memory, with a short retry schedule unless told otherwise. */
export async function startTestStack(o: Omit<LocalStackOptions, "retrySchedule"> & { schedule?: string } = {}): Promise<TestStack> {
  const stack = await startLocalStack({
    port: 0,
    logLevel: "silent",
    receiveWaitSeconds: 1,
    workerConcurrency: 2,
    recoveryDelaySeconds: 1,
    // Every management change is seen by the very next publish and attempt (in production: within ~1 s).
    subscriptionCacheMs: 0,
    ...o,
    retrySchedule: RetrySchedule.parse(o.schedule ?? "1s,1s"),
  });
  return new TestStack(stack);
}

export interface ApiAnswer<T = any> {
  status: number;
  body: T;
}

/** The stack plus a small client for its API. */
export class TestStack {
  constructor(readonly stack: LocalStack) {}

  get apiUrl(): string {
    return this.stack.apiUrl;
  }

  async api<T = any>(method: string, path: string, body?: unknown, token = this.stack.token): Promise<ApiAnswer<T>> {
    const res = await fetch(`${this.stack.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  /** Creates a webhook and returns its id and secret. */
  async createWebhook(tenantId: string, url: string, eventTypes: string[] = ["*"]): Promise<{ id: string; secret: string }> {
    const res = await this.api("POST", `/tenants/${tenantId}/webhooks`, { url, eventTypes });
    if (res.status !== 201) throw new Error(`create webhook: ${res.status} ${JSON.stringify(res.body)}`);
    return { id: res.body.id, secret: res.body.secret };
  }

  /** Polls the delivery log until `predicate` holds for the listed deliveries. */
  async waitForDeliveries(tenantId: string, webhookId: string, predicate: (items: any[]) => boolean, timeoutMs = 20_000): Promise<any[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await this.api("GET", `/tenants/${tenantId}/webhooks/${webhookId}/deliveries?limit=100`);
      if (predicate(res.body.items)) return res.body.items;
      if (Date.now() > deadline) throw new Error(`deliveries never matched: ${JSON.stringify(res.body.items)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Waits until the delivery queue holds no message at all (none visible, in flight or delayed):
   * every message sent so far has been received and judged (delivered, dropped or dead-lettered).
   */
  async waitForQueueDrained(timeoutMs = 20_000): Promise<void> {
    const sqs = new SQSClient(this.stack.config.sqs ?? {});
    const names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"] as const;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: this.stack.config.queue.queueUrl, AttributeNames: [...names] }));
      const counts = names.map((n) => Number(res.Attributes?.[n] ?? "NaN"));
      if (counts.every((c) => c === 0)) return;
      if (Date.now() > deadline) throw new Error(`the delivery queue never drained: ${names.map((n, i) => `${n}=${counts[i]}`).join(", ")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  stop(): Promise<void> {
    return this.stack.stop();
  }
}
