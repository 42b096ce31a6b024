import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { PortalSession, PortalSessionStore } from "#core/portal.ts";

/**
 * Portal sessions in DynamoDB (table `TABLES.portalSessions`, key `pk`):
 *   session#<sha256 of the token>   tenantId, readOnly, expiresAtMs, generation; TTL expiresAt
 *   tenant#<tenantId>               generation: bumped (ADD, atomic) by each revoke-all
 */
export class DynamoPortalSessionStore implements PortalSessionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async put(tokenHash: string, s: PortalSession): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: `session#${tokenHash}`, tokenHash, ...s, expiresAt: Math.ceil(s.expiresAtMs / 1000) },
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
  }

  async get(tokenHash: string): Promise<{ tokenHash: string; session: PortalSession } | undefined> {
    const res = await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: `session#${tokenHash}` }, ConsistentRead: true }));
    if (!res.Item) return undefined;
    const i = res.Item;
    return {
      tokenHash: String(i.tokenHash),
      session: {
        tenantId: i.tenantId,
        readOnly: i.readOnly === true,
        expiresAtMs: Number(i.expiresAtMs),
        generation: Number(i.generation),
        createdAt: i.createdAt,
      },
    };
  }

  async generation(tenantId: string): Promise<number> {
    const res = await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: `tenant#${tenantId}` }, ConsistentRead: true }));
    return Number(res.Item?.generation ?? 0);
  }

  async revokeAll(tenantId: string): Promise<number> {
    const res = await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `tenant#${tenantId}` },
        UpdateExpression: "ADD generation :one",
        ExpressionAttributeValues: { ":one": 1 },
        ReturnValues: "UPDATED_NEW",
      }),
    );
    return Number(res.Attributes?.generation);
  }
}
