import type { SecretContext, SecretSealer } from "#core/ports.ts";
import type { Ledger } from "../engine.ts";

/**
 * The signing secrets' envelope as KMS behaves for it: one GenerateDataKey per seal and one Decrypt
 * per open (counted in the ledger), and a sealed value opens only under the context it was sealed
 * with (tenant + webhook), as the real adapter's encryption context and AAD make it. No cryptography:
 * the simulation measures requests and checks the binding, not the cipher.
 */
export class SimSecretSealer implements SecretSealer {
  constructor(private readonly ledger: Ledger) {}

  async seal(plaintext: string, context: SecretContext): Promise<string> {
    this.ledger.count("KMS.GenerateDataKey");
    return `sim1.${Buffer.from(JSON.stringify({ t: context.tenantId, w: context.webhookId, p: plaintext })).toString("base64url")}`;
  }

  async open(sealed: string, context: SecretContext): Promise<string> {
    this.ledger.count("KMS.Decrypt");
    const { t, w, p } = JSON.parse(Buffer.from(sealed.replace(/^sim1\./, ""), "base64url").toString("utf8")) as { t: string; w: string; p: string };
    if (t !== context.tenantId || w !== context.webhookId) throw new Error("InvalidCiphertextException: the encryption context does not match");
    return p;
  }
}
