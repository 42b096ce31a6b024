/**
 * The cost model: dollars per million deliveries on AWS list prices (bench/prices.ts), from what the
 * benchmark counted (requests and capacity units per delivery) and measured (handler durations and
 * the bytes they log). Pure arithmetic, unit-tested with exact numbers.
 */
import { LOG_EVENT_OVERHEAD_BYTES, MB_PER_VCPU, PLATFORM_LOG_BYTES_PER_INVOCATION, PRICES } from "./prices.ts";

export interface LambdaUse {
  /** Invocations of this λ per delivery (e.g. 0.1 for full batches of 10). */
  invocationsPerDelivery: number;
  /** Duration of one invocation, ms (billed rounded up to the next ms). */
  durationMs: number;
  memoryMb: number;
  /** What the handler itself logs per invocation (Powertools lines, EMF metrics). */
  logBytesPerInvocation: number;
  logLinesPerInvocation: number;
}

export interface CostInputs {
  /** SQS requests as billed (64 KiB chunks), per delivery, every caller included. */
  sqsRequestsPerDelivery: number;
  dynamodbWriteUnitsPerDelivery: number;
  dynamodbReadUnitsPerDelivery: number;
  /** HTTP API requests per delivery: 1 / (events per publish call × fan-out). */
  apiRequestsPerDelivery: number;
  lambdas: Record<string, LambdaUse>;
}

/** Dollars per million deliveries, by line item. */
export interface CostBreakdown {
  lambdaRequests: number;
  lambdaCompute: number;
  sqs: number;
  dynamodbWrites: number;
  dynamodbReads: number;
  httpApi: number;
  logs: number;
  total: number;
}

const MILLION = 1e6;
/** CloudWatch's GB, taken as 10^9 bytes (the larger of the two readings of "GB"). */
const GB = 1e9;

/** Bytes CloudWatch Logs ingests per invocation: the handler's lines, their metadata, Lambda's own lines. */
export function logBytesPerInvocation(use: Pick<LambdaUse, "logBytesPerInvocation" | "logLinesPerInvocation">): number {
  return use.logBytesPerInvocation + use.logLinesPerInvocation * LOG_EVENT_OVERHEAD_BYTES + PLATFORM_LOG_BYTES_PER_INVOCATION;
}

export function costPerMillion(i: CostInputs, prices = PRICES): CostBreakdown {
  let lambdaRequests = 0;
  let lambdaCompute = 0;
  let logs = 0;
  for (const use of Object.values(i.lambdas)) {
    const invocations = use.invocationsPerDelivery * MILLION;
    lambdaRequests += invocations * prices.lambda.perRequest;
    lambdaCompute += invocations * (use.memoryMb / 1024) * (Math.ceil(use.durationMs) / 1000) * prices.lambda.perGbSecond;
    logs += ((invocations * logBytesPerInvocation(use)) / GB) * prices.logs.perGb;
  }
  const sqs = i.sqsRequestsPerDelivery * MILLION * prices.sqs.perRequest;
  const dynamodbWrites = i.dynamodbWriteUnitsPerDelivery * MILLION * prices.dynamodb.perWriteUnit;
  const dynamodbReads = i.dynamodbReadUnitsPerDelivery * MILLION * prices.dynamodb.perReadUnit;
  const httpApi = i.apiRequestsPerDelivery * MILLION * prices.httpApi.perRequest;
  const total = lambdaRequests + lambdaCompute + sqs + dynamodbWrites + dynamodbReads + httpApi + logs;
  return { lambdaRequests, lambdaCompute, sqs, dynamodbWrites, dynamodbReads, httpApi, logs, total };
}

/**
 * A handler's duration on a λ of `memoryMb`, from its wall time and CPU time measured here: a λ gets
 * a share of a vCPU proportional to its memory (MB_PER_VCPU is one vCPU), so its CPU work takes
 * MB_PER_VCPU / memoryMb times longer than on the full core it had here; waiting does not. An
 * estimate (it assumes one of this machine's cores ≈ one Graviton vCPU, and no overlap of the
 * extra CPU time with waiting), used so the cost model errs high rather than low.
 */
export function lambdaDurationMs(wallMs: number, cpuMs: number, memoryMb: number): number {
  const slowdown = Math.max(1, MB_PER_VCPU / memoryMb);
  return wallMs + cpuMs * (slowdown - 1);
}
