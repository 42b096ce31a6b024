/**
 * The CDK app. Optional context:
 *   -c retrySchedule=5,30,120           delays after attempt 1, in seconds
 *   -c autoDisableAfterSeconds=432000   disable an endpoint failing for this long
 *   -c alarmEmail=ops@example.com       create an alarm topic with this subscriber
 *   -c alarmTopicArn=arn:aws:sns:…      or send alarms to an existing topic
 *   -c portalFrameAncestors="https://app.example.com https://admin.example.com"
 *                                       origins allowed to frame the tenant portal (default: none)
 * cdk-nag's AwsSolutions pack checks the synthesised stack; a finding fails the synth.
 */
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { WebhooksStack } from "../lib/webhooks-stack.ts";

const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return value === undefined || value === "" ? undefined : String(value);
};

const retrySchedule = context("retrySchedule");
const autoDisableAfterSeconds = context("autoDisableAfterSeconds");

new WebhooksStack(app, "RecordsKeeperWebhooks", {
  description: "RecordsKeeper.AI webhooks: signed, retried, logged and replayable HTTP callbacks",
  retryScheduleSeconds: retrySchedule?.split(",").map((s) => Number(s.trim())),
  autoDisableAfterSeconds: autoDisableAfterSeconds === undefined ? undefined : Number(autoDisableAfterSeconds),
  alarmEmail: context("alarmEmail"),
  alarmTopicArn: context("alarmTopicArn"),
  portalFrameAncestors: (context("portalFrameAncestors") ?? process.env.WEBHOOKS_PORTAL_FRAME_ANCESTORS)?.split(/\s+/).filter(Boolean),
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
