import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { documentClient } from "#adapters/dynamodb.ts";
import { CoreUnderTest } from "../support/core.ts";

/**
 * BatchGetItem answers at most 1 MB (dynalite: 1 MB + one item) and leaves the other keys in
 * `UnprocessedKeys`, as DynamoDB does: the DynamoDB adapter must ask again for them
 * (lambdas/adapters/batch-calls.ts), through the real SDK client, or items go missing.
 */
describe("BatchGetItem past its 1 MB answer", () => {
  let core: CoreUnderTest;
  beforeAll(async () => {
    core = await CoreUnderTest.start();
  });
  afterAll(() => core?.stop());

  test("getMany of 6 items of 350 KB: dynalite answers 4 and leaves 2 unprocessed; the adapter returns all 6", async () => {
    const db = documentClient(core.config.dynamodb);
    const tenantId = "acct_batch_unprocessed";
    const ids = Array.from({ length: 6 }, (_, i) => `wh_big${i}`);
    for (const id of ids) {
      await db.send(new PutCommand({ TableName: core.config.tables.subscriptions, Item: { tenantId, id, blob: "x".repeat(350 * 1_024) } }));
    }
    const got = await core.subscriptions.getMany(ids.map((id) => ({ tenantId, id })));
    expect(got.map((s) => s.id).sort()).toEqual(ids);
  });
});
