/**
 * AWS list prices the cost model uses: us-east-1, on-demand, after the free tiers, as published on
 * the pricing pages named below on the date given. Change them here only.
 */
export const PRICES = {
  asOf: "2026-01-15",
  region: "us-east-1",
  sources: [
    "https://aws.amazon.com/lambda/pricing/ (Arm: $0.0000133334 per GB-second, first tier; $0.20 per 1M requests)",
    "https://aws.amazon.com/sqs/pricing/ (standard queue: $0.40 per 1M requests after the first 1M; each 64 KB chunk of a payload is one request)",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/ (on-demand, Standard table class, since the Nov 2024 reduction: $0.625 per 1M write request units, $0.125 per 1M read request units)",
    "https://aws.amazon.com/api-gateway/pricing/ (HTTP APIs: $1.00 per 1M requests for the first 300M, metered in 512 KB increments)",
    "https://aws.amazon.com/cloudwatch/pricing/ (Logs: $0.50 per GB ingested, Standard class, first tier of Lambda's vended-log pricing)",
  ],
  lambda: { perGbSecond: 0.0000133334, perRequest: 0.2 / 1e6 },
  sqs: { perRequest: 0.4 / 1e6, chunkBytes: 64 * 1024 },
  dynamodb: { perWriteUnit: 0.625 / 1e6, perReadUnit: 0.125 / 1e6 },
  httpApi: { perRequest: 1.0 / 1e6, meteredBytes: 512 * 1024 },
  logs: { perGb: 0.5 },
} as const;

/**
 * What CloudWatch Logs ingests besides the handler's own lines, per invocation: Lambda's START, END
 * and REPORT lines (the REPORT line with X-Ray fields, as the stack enables active tracing) — about
 * 340 bytes, an estimate from their documented format — plus CloudWatch's 26 bytes of metadata per
 * log event, counted for those 3 events (the handler's own lines get theirs in the cost model).
 */
export const PLATFORM_LOG_BYTES_PER_INVOCATION = 340 + 3 * 26;
export const LOG_EVENT_OVERHEAD_BYTES = 26;

/** A λ's share of a vCPU is proportional to its memory: 1,769 MB is one full vCPU (Lambda docs). */
export const MB_PER_VCPU = 1_769;
