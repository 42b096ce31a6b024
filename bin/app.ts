/**
 * The CDK app. Optional context:
 *   -c retrySchedule=5s,30s,2m          delays after attempt 1 (the syntax of WEBHOOKS_RETRY_SCHEDULE; plain numbers are seconds)
 *   -c autoDisableAfter=5d              disable an endpoint failing for this long (or autoDisableAfterSeconds=432000)
 *   -c breakerThreshold=5               consecutive failed attempts that open a webhook's circuit (docs/delivery-semantics.md)
 *   -c breakerProbeInterval=60s         first probe interval of an open circuit (60s to 15m; doubles up to 15m)
 *   -c releaseRate=50                   parked deliveries released per second per webhook
 *   -c alarmEmail=ops@example.com       create an alarm topic with this subscriber
 *   -c alarmTopicArn=arn:aws:sns:…      or send alarms to an existing topic
 *   -c portalFrameAncestors="https://app.example.com https://admin.example.com"
 *                                       origins allowed to frame the tenant portal (default: none)
 * cdk-nag's AwsSolutions pack checks the synthesised stack; a finding fails the synth.
 */
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { ContextError, propsFromContext } from "../lib/context.ts";
import { WebhooksStack } from "../lib/webhooks-stack.ts";

const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return value === undefined || value === "" ? undefined : String(value);
};

let props: ReturnType<typeof propsFromContext>;
try {
  props = propsFromContext(context);
} catch (err) {
  if (!(err instanceof ContextError)) throw err;
  // One line, no stack trace: the value is wrong, not the app.
  process.stderr.write(`error: ${err.message}\n`);
  process.exit(1);
}

new WebhooksStack(app, "RecordsKeeperWebhooks", {
  description: "RecordsKeeper.AI webhooks: signed, retried, logged and replayable HTTP callbacks",
  ...props,
  portalFrameAncestors: (context("portalFrameAncestors") ?? process.env.WEBHOOKS_PORTAL_FRAME_ANCESTORS)?.split(/\s+/).filter(Boolean),
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
