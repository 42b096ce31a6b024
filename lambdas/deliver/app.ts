import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import type { DeliveryService, ReceivedMessage } from "#core/delivery.ts";

/** The slow lane's service and the ARN of its queue: its records are recognised by their event source. */
export interface SlowLaneHandler {
  service: DeliveryService;
  queueArn: string;
}

const received = (r: SQSRecord): ReceivedMessage => ({
  messageId: r.messageId,
  receiptHandle: r.receiptHandle,
  body: r.body,
  sentAt: Number(r.attributes.SentTimestamp) || undefined,
  receiveCount: Number(r.attributes.ApproximateReceiveCount) || undefined,
});

/**
 * SQS batch → deliveries. Powertools' batch processor turns the records whose delivery must be
 * retried into `batchItemFailures`; `throwOnFullBatchFailure: false` keeps one endpoint's outage
 * (a batch in which every record fails) from making Lambda back off polling for everyone.
 *
 * One processor per invocation: a processor holds its batch's records and failure list, and the
 * local event source, the bench and the tests run several invocations at once in one process. A
 * shared one let a batch's start clear another's failures, whose messages were then deleted.
 */
export function createDeliverHandler(main: DeliveryService, slowLane?: SlowLaneHandler) {
  return async (event: SQSEvent, context: Context) => {
    // One mapping per lane: a batch comes from one queue, so its first record says which.
    const service = slowLane && event.Records[0]?.eventSourceARN === slowLane.queueArn ? slowLane.service : main;
    const processor = new BatchProcessor(EventType.SQS);
    const batch = await service.prepare(event.Records.map(received));
    try {
      return await processPartialResponse(event, (record: SQSRecord) => service.deliver(batch, received(record)), processor, {
        context,
        throwOnFullBatchFailure: false,
      });
    } finally {
      await service.finish(batch);
    }
  };
}
