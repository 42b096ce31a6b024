import pkg from "../../package.json" with { type: "json" };

const { version } = pkg;

/** `user-agent` of every delivery (docs/receiving-webhooks.md). */
export const USER_AGENT = `RecordsKeeper-Webhooks/${version}`;
export { version };
