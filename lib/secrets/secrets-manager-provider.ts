import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { HelmgateError } from '../errors';
import type { SecretsProvider } from './secrets-provider';

/** AWS Secrets Manager behind the SecretsProvider port; the client is injected (endpoint configurable). */
export class SecretsManagerProvider implements SecretsProvider {
  constructor(private readonly client: SecretsManagerClient) {}

  async getSecretString(id: string): Promise<string | undefined> {
    try {
      const out = await this.client.send(new GetSecretValueCommand({ SecretId: id }));
      if (out.SecretString !== undefined) return out.SecretString;
      if (out.SecretBinary) return Buffer.from(out.SecretBinary).toString('utf8');
      return undefined;
    } catch (e) {
      if (
        e instanceof ResourceNotFoundException ||
        (e as { name?: string }).name === 'ResourceNotFoundException'
      )
        return undefined;
      // ours, e.g. the environment role could not be assumed: already says why, names no secret value
      if (e instanceof HelmgateError) throw e;
      // the SDK's message names the secret id, never a value; keep the class, drop details
      throw new HelmgateError('internal', `Secrets Manager read of ${id} failed: ${(e as Error).name}`, {
        cause: e,
      });
    }
  }
}

/**
 * Writes secrets (setup and bootstrap): `CreateSecret`, or `PutSecretValue` (a new current version)
 * when the secret exists. Errors name the secret, never its value.
 */
export class SecretsManagerWriter {
  constructor(private readonly client: SecretsManagerClient) {}

  async putSecret(name: string, value: string): Promise<'created' | 'updated'> {
    try {
      await this.client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
      return 'created';
    } catch (e) {
      if ((e as { name?: string }).name !== 'ResourceExistsException')
        throw new HelmgateError(
          'unavailable',
          `Secrets Manager could not create ${name}: ${(e as Error).name}`,
          {
            cause: e,
          },
        );
    }
    try {
      await this.client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
      return 'updated';
    } catch (e) {
      throw new HelmgateError(
        'unavailable',
        `Secrets Manager could not update ${name}: ${(e as Error).name}`,
        {
          cause: e,
        },
      );
    }
  }
}
