import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { systemClock } from '../../../lib/clock';
import {
  environmentSecretsProviders,
  parseEnvironmentRoles,
  roleFor,
} from '../../../lib/runner/environment-secrets';
import { SecretsManagerProvider } from '../../../lib/secrets/secrets-manager-provider';
import { SecretsManagerStandIn } from '../../../test/stand-ins/secrets-manager';
import { StsStandIn } from '../../../test/stand-ins/sts';

// Real SDK clients against loopback STS and Secrets Manager; the Secrets Manager stand-in plays IAM
// with the access key each role's credentials carry, as the generated roles would in AWS.
const STAGING_ROLE = 'arn:aws:iam::123456789012:role/helmgate-ci-env-staging';
const PRODUCTION_ROLE = 'arn:aws:iam::123456789012:role/helmgate-ci-env-production';
const RUNNER_KEY = 'AKIARUNNEROWNROLE000';

let sts: StsStandIn;
let sm: SecretsManagerStandIn;

beforeAll(async () => {
  sts = await new StsStandIn().start();
  sts.assumableRoles = [STAGING_ROLE, PRODUCTION_ROLE];
  sm = await new SecretsManagerStandIn({
    'helmgate/staging/cluster': '{"kubeconfig":"staging"}',
    'helmgate/production/cluster': '{"kubeconfig":"production"}',
    'idr/readonly': '{"password":"pw"}',
  }).start();
  const reads: Record<string, string[]> = {
    [StsStandIn.accessKeyFor(STAGING_ROLE)]: ['helmgate/staging/cluster', 'idr/readonly'],
    [StsStandIn.accessKeyFor(PRODUCTION_ROLE)]: ['helmgate/production/cluster', 'idr/readonly'],
  };
  sm.allow = (key, id) => reads[key]?.includes(id) ?? false;
});

afterAll(async () => {
  await sts.close();
  await sm.close();
});

function providers() {
  const credentials = { accessKeyId: RUNNER_KEY, secretAccessKey: 'runner-secret' };
  const stsClient = new STSClient({ region: 'eu-west-1', endpoint: sts.url, credentials });
  return environmentSecretsProviders({
    roles: parseEnvironmentRoles(
      JSON.stringify({ '*#staging': STAGING_ROLE, 'org/deploys#production': PRODUCTION_ROLE }),
    ),
    sts: stsClient,
    clock: systemClock,
    providerWith: (creds) =>
      new SecretsManagerProvider(
        new SecretsManagerClient({ region: 'eu-west-1', endpoint: sm.url, credentials: creds }),
      ),
  });
}

describe('deployment secrets through the environment role', () => {
  it("reads a staging deployment's secrets with staging's role, assumed once per deployment", async () => {
    const before = sts.assumed.length;
    const p = providers()({ id: 'abc1234-staging-1', repository: 'org/deploys', environment: 'staging' });
    expect(await p.getSecretString('helmgate/staging/cluster')).toBe('{"kubeconfig":"staging"}');
    expect(await p.getSecretString('idr/readonly')).toBe('{"password":"pw"}');
    expect(sts.assumed.slice(before)).toEqual([
      {
        roleArn: STAGING_ROLE,
        sessionName: 'helmgate-abc1234-staging-1',
        accessKeyId: StsStandIn.accessKeyFor(STAGING_ROLE),
      },
    ]);
    expect(sm.readers.slice(-2)).toEqual([
      StsStandIn.accessKeyFor(STAGING_ROLE),
      StsStandIn.accessKeyFor(STAGING_ROLE),
    ]);
    expect(sm.readers).not.toContain(RUNNER_KEY);
  });

  it("a staging deployment cannot read production's credentials, whatever the code asks for", async () => {
    const p = providers()({ id: 'abc1234-staging-2', repository: 'org/deploys', environment: 'staging' });
    await expect(p.getSecretString('helmgate/production/cluster')).rejects.toThrow(
      'Secrets Manager read of helmgate/production/cluster failed: AccessDeniedException',
    );
  });

  it('an environment without a role reads nothing (no AssumeRole, no Secrets Manager call)', async () => {
    const before = { assumed: sts.assumed.length, reads: sm.reads.length };
    const p = providers()({ id: 'x-production', repository: 'org/other', environment: 'production' });
    await expect(p.getSecretString('helmgate/production/cluster')).rejects.toThrow(
      'no IAM role for org/other production',
    );
    expect(sts.assumed.length).toBe(before.assumed);
    expect(sm.reads.length).toBe(before.reads);
  });

  it('a role the runner may not assume fails with why, naming the role and no credential', async () => {
    sts.assumableRoles = [STAGING_ROLE];
    try {
      const p = providers()({ id: 'x', repository: 'org/deploys', environment: 'production' });
      await expect(p.getSecretString('helmgate/production/cluster')).rejects.toThrow(
        `cannot assume the environment role ${PRODUCTION_ROLE}`,
      );
    } finally {
      sts.assumableRoles = [STAGING_ROLE, PRODUCTION_ROLE];
    }
  });

  it('looks a role up by repository (case-insensitively), else by `*`', () => {
    const roles = parseEnvironmentRoles(
      JSON.stringify({ '*#staging': STAGING_ROLE, 'org/deploys#production': PRODUCTION_ROLE }),
    );
    expect(roleFor(roles, 'Org/Deploys', 'production')).toBe(PRODUCTION_ROLE);
    expect(roleFor(roles, 'org/other', 'staging')).toBe(STAGING_ROLE);
    expect(roleFor(roles, 'org/other', 'production')).toBeUndefined();
    expect(() => parseEnvironmentRoles('{"staging":"x"}')).toThrow('HELMGATE_ENVIRONMENT_ROLES');
  });
});
