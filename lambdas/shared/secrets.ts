import { KMSClient } from "@aws-sdk/client-kms";
import { KmsSecretSealer } from "#adapters/kms.ts";
import type { Clock } from "#core/ports.ts";
import { ENV } from "#core/settings.ts";
import type { RuntimeConfig } from "./config.ts";

/**
 * The envelope of signing secrets (docs/security.md): KMS with the configured key, data keys reused at
 * most `dataKeyCacheMs`. Only the λs that seal or open secrets (manage, portal, deliver) import this.
 */
export function secretSealer(config: RuntimeConfig, dataKeyCacheMs: number, clock?: Clock): KmsSecretSealer {
  if (!config.secretsKeyId) throw new Error(`environment variable ${ENV.secretsKeyArn} is not set`);
  return new KmsSecretSealer(new KMSClient(config.kms ?? {}), config.secretsKeyId, { dataKeyCacheMs, clock });
}
