/**
 * The one definition of every setting that both the CDK stack (lib/) and the local stack (local/)
 * need: retry schedule, queue timings, batch sizes, table keys and limits. Neither world hard-codes
 * any of these, so they cannot drift apart.
 */

/** Delays after attempt 1, in seconds (docs/delivery-semantics.md): 13 attempts over about 2.2 days (51 h 43 min before jitter). */
export const DEFAULT_RETRY_SCHEDULE_SECONDS: readonly number[] = [5, 30, 120, 600, 1_800, 3_600, 7_200, 14_400, 28_800, 43_200, 43_200, 43_200];

/** Each delay is scaled by a random factor in [1 - JITTER, 1 + JITTER]. */
export const RETRY_JITTER = 0.2;

/** SQS refuses a visibility timeout above 12 hours. */
export const MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200;

export const DELIVERY = {
  /** Default per-attempt timeout: connect, headers and body together. */
  attemptTimeoutMs: 10_000,
  /** At most this much of a response body is kept in the attempt log: UTF-8 text cut after decoding. */
  responseExcerptBytes: 4_096,
  /**
   * A delivery item keeps its first attempts inline (most deliveries need one); later attempts are
   * items of their own, so a delivery item stays small whatever the number of retries and redrive
   * rounds (DynamoDB refuses items over 400 KB and bills every update for the whole item).
   */
  inlineAttempts: 3,
  /** A response body is read to its end (so that the connection can be reused) up to this size. */
  maxResponseBodyBytes: 1_048_576,
  /** An endpoint failing every attempt for this long is disabled automatically. */
  autoDisableAfterSeconds: 5 * 24 * 3_600,
  /** Subscriptions are read fresh at least this often by every λ (docs/architecture.md#subscriptions). */
  subscriptionCacheMs: 1_000,
  /** Delivery records and attempt logs are kept this long. */
  retentionSeconds: 30 * 24 * 3_600,
} as const;

export const QUEUE = {
  /**
   * Lambda event source mapping batch size: deliveries attempted concurrently per invocation. An
   * invocation lasts as long as its slowest endpoint, so throughput ≈ concurrency × batchSize ÷
   * invocation time: large batches keep slow endpoints from eating the concurrency (docs/operations.md).
   * Above 10, AWS requires a batching window of at least 1 s. The local poller receives at most 10.
   */
  batchSize: 100,
  /** How long the event source waits to fill a batch. */
  maxBatchingWindowSeconds: 1,
  /**
   * The one setting of the main lane's deliver concurrency: its event source mapping's maxConcurrency;
   * the deliver λ's reserved concurrency is this plus the slow lane's (SLOW_LANE.concurrency), so the λ
   * can always scale to what both pollers ask and never takes the rest of the account
   * (docs/operations.md has the sizing).
   */
  deliverConcurrency: 500,
  /** Upper bound of concurrent deliver λ invocations (event source mapping maxConcurrency). */
  get maxConcurrency(): number {
    return this.deliverConcurrency;
  },
  /** The deliver λ's reserved concurrency: both lanes' mappings at their maximum (SLOW_LANE). */
  get reservedConcurrency(): number {
    return this.deliverConcurrency + SLOW_LANE.concurrency;
  },
  /** Deliver λ timeout: a batch runs concurrently, so one attempt timeout plus the bookkeeping. */
  deliverTimeoutSeconds: 30,
  /** AWS guidance: queue visibility at least 6 × the consumer's timeout. */
  get visibilityTimeoutSeconds(): number {
    return 6 * this.deliverTimeoutSeconds;
  },
  /** 14 days, SQS's maximum, for the queue and the DLQ. */
  retentionSeconds: 14 * 24 * 3_600,
  /** Safety net for poison messages only; well above the retry schedule's 13 attempts. */
  maxReceiveCount: 50,
  /** A standard queue stalls at ~120,000 in-flight messages; backoffs count as in flight. */
  inFlightAlarmThreshold: 80_000,
  /** SQS's in-flight limit of a standard queue: past it, receives return nothing. */
  maxInFlight: 120_000,
  /** SQS's longest DelaySeconds. */
  maxDelaySeconds: 900,
  /** SQS's largest message, and largest batch (all bodies together): 1 MiB since 2025. */
  maxMessageBytes: 1_048_576,
  /**
   * Seconds kept in hand when the λ computes how much visibility a receive has left (SQS counts the
   * 12 h from the receive, and refuses a ChangeMessageVisibility that would pass it).
   */
  visibilityMarginSeconds: 60,
} as const;

/**
 * Endpoint health (docs/delivery-semantics.md): the circuit per webhook, parking, release pacing, and the bound on
 * what one slow webhook may hold at once. The stack and the local stack read the same defaults; the
 * first three can be set by environment (ENV.breaker*) and by the stack's context.
 */
export const HEALTH = {
  /** Consecutive failed attempts that open a webhook's circuit (WEBHOOKS_BREAKER_THRESHOLD). */
  breakerThreshold: 5,
  /** Seconds between probes of an open circuit at first (WEBHOOKS_BREAKER_PROBE_INTERVAL); doubles after each failed probe. */
  probeIntervalSeconds: 60,
  /** The probe interval grows no further than this. */
  maxProbeIntervalSeconds: 900,
  /** Parked deliveries released per second per webhook once it may be sent to again (WEBHOOKS_RELEASE_RATE). */
  releaseRate: 50,
  /**
   * How often the release λ runs (an EventBridge rule: a minute is its finest rate). Each run releases
   * what the next `sweepSeconds` may send, paced with per-message DelaySeconds. The local stack ticks
   * every second (`localSweepSeconds`).
   */
  sweepSeconds: 60,
  localSweepSeconds: 1,
  /** Webhooks one sweep looks at (the rest are due again at the next sweep). */
  sweepWebhooks: 200,
  /** A backoff longer than this is not held in flight: the delivery is parked with a due time. */
  maxQueuedBackoffSeconds: 900,
  /** An attempt slower than this marks its webhook slow for `slowForSeconds`. */
  slowAttemptMs: 2_000,
  slowForSeconds: 600,
  /** Requests a slow webhook may have in progress at once, across all workers; the rest wait parked. */
  slowInProgress: 10,
  /** A lease on an in-progress slot ends after this, even if its worker died. */
  slotLeaseSeconds: 60,
  /** rateLimit (deliveries per second) accepted on create and PATCH. */
  rateLimitMin: 1,
  rateLimitMax: 1_000,
} as const;

/**
 * The slow lane: a second queue, consumed by the same deliver λ through a mapping of its own, for the
 * deliveries of webhooks marked slow (HEALTH.slowAttemptMs). An invocation lasts as long as its
 * slowest attempt, so slow attempts among fast ones would make every batch last their time and eat
 * the main mapping's concurrency (docs/scale.md, scenario d); on a lane of their own they hold only
 * its invocations. The main lane forwards a slow webhook's messages there (one SendMessage) unattempted.
 */
export const SLOW_LANE = {
  batchSize: 100,
  maxBatchingWindowSeconds: 1,
  /** The slow lane mapping's maximum concurrency (reserved with the main lane's, see QUEUE). */
  concurrency: 50,
} as const;

export const INGEST = {
  idempotencyWindowSeconds: 24 * 3_600,
  maxEventsPerRequest: 100,
  maxDataBytes: 256 * 1_024,
  /** Objects and arrays nest at most this deep in `data` (the data object itself is level 1). */
  maxDataDepth: 64,
  /** Whole request body: 100 events of at most 256 KiB each would be too much for one API call. */
  maxRequestBytes: 1_024 * 1_024,
} as const;

/**
 * The largest delivery message body the queues must accept. The message (JSON) carries the event's
 * payload (JSON) as a string, and its body is written with the characters SQS does not keep escaped
 * as `\uXXXX` (lambdas/adapters/sqs.ts): a payload byte takes at most three (a 2-byte character becomes a
 * 6-byte escape; an escaped `"` or `\` takes two, a 4-byte astral one two 6-byte escapes). So at most
 * 3 × the 256 KiB of `data`, plus 16 KiB for the event's other fields (ids, type, tenant, timestamp,
 * each bounded) and the message's own. 802,816 bytes: above SQS's 256 KiB default, within its 1 MiB
 * (1,048,576 bytes) maximum. The stack sets it on both queues (the DLQ gets the same messages) and
 * the local stack does too.
 */
export const MAX_MESSAGE_BYTES = 3 * INGEST.maxDataBytes + 16 * 1_024;

/** SQS's largest MaximumMessageSize (since 2025). */
export const SQS_MAX_MESSAGE_BYTES = 1_048_576;

export const LIMITS = {
  webhooksPerTenant: 50,
  urlMaxLength: 2_048,
  descriptionMaxLength: 500,
  rotateGraceDefaultSeconds: 24 * 3_600,
  rotateGraceMaxSeconds: 7 * 24 * 3_600,
  pageSizeDefault: 20,
  pageSizeMax: 100,
} as const;

/**
 * The signing secrets' envelope (lambdas/adapters/kms.ts): the KMS encryption context of every
 * sealed secret is {purpose, tenantId, webhookId}; the stack's IAM conditions allow the KMS calls
 * only with this purpose and these keys.
 */
export const SECRETS = {
  purpose: "webhook-signing-secret",
  contextKeys: ["purpose", "tenantId", "webhookId"],
} as const;

/** Custom metrics the stack's alarms read: CloudWatch namespace, the Powertools `service` dimension, names. */
export const METRICS = {
  namespace: "RecordsKeeperWebhooks",
  deliverService: "webhooks-deliver",
  /** A delivery record or subscription write of the deliver λ failed (the attempt itself may have succeeded). */
  bookkeepingWriteFailures: "BookkeepingWriteFailures",
  /** Circuits opened / closed (deliver λ) and open circuits and parked deliveries seen by a sweep (release λ). */
  circuitsOpened: "CircuitsOpened",
  circuitsClosed: "CircuitsClosed",
  openCircuits: "OpenCircuits",
  parkedDeliveries: "ParkedDeliveries",
  deliveriesParked: "DeliveriesParked",
  deliveriesReleased: "DeliveriesReleased",
  releaseService: "webhooks-release",
  forwardedToSlowLane: "ForwardedToSlowLane",
} as const;

/** Table key schemas: the stack creates them with these names and the local stack from the same. */
export const TABLES = {
  subscriptions: {
    partitionKey: "tenantId",
    sortKey: "id",
    /**
     * Sparse index of the webhooks the release λ must look at (parked work, an open circuit): `wake` is
     * set on those items only, `wakeAt` (ISO) is when. One query finds the due ones, never a scan.
     */
    wakeIndex: { name: "byWake", partitionKey: "wake", sortKey: "wakeAt" },
  },
  events: { partitionKey: "pk" },
  deliveries: {
    partitionKey: "pk",
    sortKey: "id",
    /**
     * Sparse index of the deliveries that are not `succeeded` (pending, failed, skipped): the status
     * filter of the log and replay read only what they return. `statusKey` = pk#status, set on those
     * items only, so a first-attempt success costs no index write.
     */
    statusIndex: { name: "byStatus", partitionKey: "statusKey", sortKey: "id", nonKeyAttributes: ["eventId"] },
    /**
     * Sparse index of parked deliveries: `parkKey` = tenantId#webhookId, `parkSort` = dueAt#deliveryId,
     * set while parked only; released in that order (all attributes projected: the release re-sends them).
     */
    parkedIndex: { name: "parked", partitionKey: "parkKey", sortKey: "parkSort" },
  },
  /** Portal sessions by token hash (`session#<sha256>`) and each tenant's revocation generation (`tenant#<id>`). */
  portalSessions: { partitionKey: "pk" },
  ttlAttribute: "expiresAt",
} as const;

export type TableName = "subscriptions" | "events" | "deliveries" | "portalSessions";

/** Environment variables the λs read; the stack sets them, the local stack sets them too. */
export const ENV = {
  subscriptionsTable: "SUBSCRIPTIONS_TABLE",
  eventsTable: "EVENTS_TABLE",
  deliveriesTable: "DELIVERIES_TABLE",
  deliveryQueueUrl: "DELIVERY_QUEUE_URL",
  dlqUrl: "DLQ_URL",
  dlqArn: "DLQ_ARN",
  deliveryQueueArn: "DELIVERY_QUEUE_ARN",
  /** The slow lane's queue (SLOW_LANE). */
  slowQueueUrl: "DELIVERY_SLOW_QUEUE_URL",
  slowQueueArn: "DELIVERY_SLOW_QUEUE_ARN",
  retrySchedule: "WEBHOOKS_RETRY_SCHEDULE",
  allowPrivateEndpoints: "WEBHOOKS_ALLOW_PRIVATE_ENDPOINTS",
  autoDisableAfter: "WEBHOOKS_AUTO_DISABLE_AFTER",
  /** The KMS key that seals signing secrets (the stack's key; the local stack's own key locally). */
  secretsKeyArn: "WEBHOOKS_SECRETS_KEY_ARN",
  portalSessionsTable: "PORTAL_SESSIONS_TABLE",
  /** The portal's page (`…/portal`): the base of the `url` a new portal session answers. */
  portalUrl: "WEBHOOKS_PORTAL_URL",
  /** Origins allowed to frame the portal (CSP frame-ancestors), space-separated; default none. */
  portalFrameAncestors: "WEBHOOKS_PORTAL_FRAME_ANCESTORS",
  breakerThreshold: "WEBHOOKS_BREAKER_THRESHOLD",
  breakerProbeInterval: "WEBHOOKS_BREAKER_PROBE_INTERVAL",
  releaseRate: "WEBHOOKS_RELEASE_RATE",
} as const;

/** The tenant portal (docs/portal.md). */
export const PORTAL = {
  sessionSecondsDefault: 3_600,
  sessionSecondsMin: 60,
  sessionSecondsMax: 86_400,
  /** Session tokens: this prefix + base64url of 32 random bytes (256 bits). */
  tokenPrefix: "rkps_",
  tokenBytes: 32,
} as const;

/**
 * An ingest retry of an event whose first call may have died half-way re-enqueues its fan-out with
 * this delay, so that any copy the first call did enqueue is attempted first and the retry's copy is
 * dropped as a duplicate (never dropped, never doubled: docs/architecture.md).
 */
export const RECOVERY_DELAY_SECONDS = 60;
