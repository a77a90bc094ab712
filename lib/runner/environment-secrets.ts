import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import * as z from 'zod';
import type { Clock } from '../clock';
import { HelmgateError } from '../errors';
import type { SecretsProvider } from '../secrets/secrets-provider';

/**
 * Deployment secrets through the deployment's environment role (issue 11): the runner's own IAM role
 * reads no deployment secret; for each deployment it assumes the role of that repository and
 * environment (STS AssumeRole), which IAM lets read only that environment's cluster secret and
 * secret prefixes (scripts/serverless-policy.cjs generates the roles from the policy). A bug that
 * asks a staging deployment's resolver for production's credentials gets AccessDenied from AWS.
 */

export interface TemporaryCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** `{"<owner/name or *>#<environment>": "<role ARN>"}` (HELMGATE_ENVIRONMENT_ROLES). */
export const EnvironmentRoles = z.record(
  z.string().regex(/^(\*|[\w.-]+\/[\w.-]+)#[a-z0-9-]+$/, 'keys are <owner/name or *>#<environment>'),
  z.string().regex(/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, 'an IAM role ARN'),
);
export type EnvironmentRoles = z.infer<typeof EnvironmentRoles>;

export function parseEnvironmentRoles(raw: string): EnvironmentRoles {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new HelmgateError('invalid_config', 'HELMGATE_ENVIRONMENT_ROLES is not JSON');
  }
  const parsed = EnvironmentRoles.safeParse(json);
  if (!parsed.success)
    throw new HelmgateError(
      'invalid_config',
      `HELMGATE_ENVIRONMENT_ROLES: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

/** The role of a repository's environment: its own entry, else the `*` entry (as the policy looks up). */
export function roleFor(
  roles: EnvironmentRoles,
  repository: string,
  environment: string,
): string | undefined {
  const wanted = `${repository.toLowerCase()}#${environment}`;
  for (const [key, arn] of Object.entries(roles)) if (key.toLowerCase() === wanted) return arn;
  return roles[`*#${environment}`];
}

/** Session names are what CloudTrail shows: the deployment id, in STS's alphabet. */
export function sessionName(deploymentId: string): string {
  return `helmgate-${deploymentId}`.replace(/[^\w+=,.@-]/g, '_').slice(0, 64);
}

/**
 * A credentials provider for one role: AssumeRole once, reused until five minutes before expiry
 * (the SDK clients call it for every request).
 */
export function assumeRoleCredentials(opts: {
  sts: Pick<STSClient, 'send'>;
  roleArn: string;
  sessionName: string;
  clock: Clock;
  durationSeconds?: number;
}): () => Promise<TemporaryCredentials> {
  let current: Promise<TemporaryCredentials> | undefined;
  const fresh = (c: TemporaryCredentials) =>
    !c.expiration || c.expiration.getTime() - opts.clock.now().getTime() > 5 * 60_000;
  const assume = async (): Promise<TemporaryCredentials> => {
    try {
      const out = await opts.sts.send(
        new AssumeRoleCommand({
          RoleArn: opts.roleArn,
          RoleSessionName: opts.sessionName,
          DurationSeconds: opts.durationSeconds ?? 3600,
        }),
      );
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey)
        throw new HelmgateError('internal', `AssumeRole of ${opts.roleArn} returned no credentials`);
      return {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
        ...(c.Expiration ? { expiration: c.Expiration } : {}),
      };
    } catch (e) {
      if (e instanceof HelmgateError) throw e;
      // the SDK's error names the role, never a credential
      throw new HelmgateError(
        'forbidden',
        `cannot assume the environment role ${opts.roleArn}: ${(e as Error).name}`,
        { cause: e },
      );
    }
  };
  return async () => {
    const c = current ? await current.catch(() => undefined) : undefined;
    if (c && fresh(c)) return c;
    current = assume();
    return current;
  };
}

/**
 * The credentials of a deployment's environment role (the EKS access entry names that role), or
 * undefined when the environment has none.
 */
export function environmentCredentials(opts: {
  roles: EnvironmentRoles;
  sts: Pick<STSClient, 'send'>;
  clock: Clock;
}): (d: {
  id: string;
  repository: string;
  environment: string;
}) => (() => Promise<TemporaryCredentials>) | undefined {
  return (d) => {
    const roleArn = roleFor(opts.roles, d.repository, d.environment);
    return roleArn
      ? assumeRoleCredentials({ sts: opts.sts, roleArn, sessionName: sessionName(d.id), clock: opts.clock })
      : undefined;
  };
}

/**
 * Per deployment, the SecretsProvider that reads with its environment's role. `providerWith` builds
 * a Secrets Manager provider from a credentials provider (the wiring owns the SDK client settings).
 * An environment without a role reads nothing: every read fails, naming why (fail closed).
 */
export function environmentSecretsProviders(opts: {
  roles: EnvironmentRoles;
  sts: Pick<STSClient, 'send'>;
  clock: Clock;
  providerWith: (credentials: () => Promise<TemporaryCredentials>) => SecretsProvider;
}): (d: { id: string; repository: string; environment: string }) => SecretsProvider {
  const credentialsOf = environmentCredentials(opts);
  return (d) => {
    const credentials = credentialsOf(d);
    if (!credentials)
      return {
        async getSecretString() {
          throw new HelmgateError(
            'forbidden',
            `no IAM role for ${d.repository} ${d.environment} (HELMGATE_ENVIRONMENT_ROLES): its secrets cannot be read; add the environment to the policy and deploy the stack`,
          );
        },
      };
    return opts.providerWith(credentials);
  };
}
