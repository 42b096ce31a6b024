import type { CoreMetrics, DeliveryLog, SubscriptionStore } from "./ports.ts";
import { METRICS } from "./settings.ts";

/**
 * The deliver λ's bookkeeping writes (delivery records, subscription flags), counted when they
 * fail: such a failure is retried with its message or batch, so it shows as neither an attempt
 * failure nor (when one record fails) an invocation error. The stack alarms on the metric.
 */
export function countingWriteFailures(
  stores: { deliveries: DeliveryLog; subscriptions: SubscriptionStore },
  metrics: CoreMetrics,
): { deliveries: DeliveryLog; subscriptions: SubscriptionStore } {
  const counted = <A extends unknown[], R>(write: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await write(...args);
      } catch (err) {
        metrics.count(METRICS.bookkeepingWriteFailures);
        throw err;
      }
    };
  const { deliveries, subscriptions } = stores;
  return {
    deliveries: {
      getMany: (keys) => deliveries.getMany(keys),
      get: (tenantId, webhookId, id) => deliveries.get(tenantId, webhookId, id),
      list: (tenantId, webhookId, query) => deliveries.list(tenantId, webhookId, query),
      write: counted((w) => deliveries.write(w)),
      createMany: counted((writes) => deliveries.createMany(writes)),
    },
    subscriptions: {
      listByTenant: (tenantId) => subscriptions.listByTenant(tenantId),
      get: (tenantId, id) => subscriptions.get(tenantId, id),
      getMany: (keys) => subscriptions.getMany(keys),
      create: (sub, limit) => subscriptions.create(sub, limit),
      update: counted((tenantId, id, changes, expect) => subscriptions.update(tenantId, id, changes, expect)),
      delete: (tenantId, id) => subscriptions.delete(tenantId, id),
    },
  };
}
