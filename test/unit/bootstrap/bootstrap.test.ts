import {
  type BootstrapDeps,
  bootstrap,
  type GithubAppAdmin,
  printSetupGithubCommand,
  type SecretsAdmin,
} from '../../../lib/bootstrap/bootstrap';
import { DEFAULT_SECRET_IDS } from '../../../lib/bootstrap/secret-specs';
import { parsePolicy, policyDigest } from '../../../lib/policy/policy';
import type { Random } from '../../../lib/random';

/** The bootstrap core over in-memory ports: what it decides about the policy, the secrets and the App. */

function memorySecrets(initial: Record<string, string>) {
  const values = new Map(Object.entries(initial));
  const writes: string[] = [];
  const admin: SecretsAdmin = {
    async inspect(id) {
      const v = values.get(id);
      return v === undefined ? { state: 'absent' } : { state: 'present', value: v };
    },
    async create(id, value) {
      if (values.has(id)) throw new Error('exists');
      values.set(id, value);
      writes.push(`create ${id}`);
    },
    async putValue(id, value) {
      values.set(id, value);
      writes.push(`put ${id}`);
    },
  };
  return { admin, values, writes };
}

const random: Random = {
  id: () => 'id',
  bytes: (n) => Buffer.alloc(n, 7),
  fraction: () => 0.5,
};

const app: GithubAppAdmin = {
  app: async () => ({
    id: 1,
    slug: 'helmgate',
    permissions: { contents: 'read', deployments: 'write', statuses: 'write', metadata: 'read' },
    events: ['push'],
  }),
  installationFor: async () => ({ id: 2 }),
  installationToken: async () => undefined,
  hookConfig: async () => ({ url: 'https://api.example.org/webhook', contentType: 'json', hasSecret: true }),
  updateHookConfig: async () => {
    throw new Error('no write expected');
  },
};

const ALL = {
  'helmgate/github-webhook': 'w'.repeat(64),
  'helmgate/approval-signing-key': 'k'.repeat(64),
  'helmgate/api-tokens': 't'.repeat(43),
  'helmgate/digest-key': 'd'.repeat(64),
  'helmgate/github-oauth': JSON.stringify({ client_id: 'Iv1.x', client_secret: 'cs'.repeat(10) }),
  'helmgate/github-app': JSON.stringify({ appId: 1, installationId: 2, privateKey: 'PRIVATE KEY' }),
};

function deps(
  policyYaml: string,
  over: Partial<BootstrapDeps> = {},
  secrets = memorySecrets(ALL),
): BootstrapDeps {
  return {
    stage: 'prod',
    region: 'eu-west-1',
    ids: DEFAULT_SECRET_IDS,
    publicUrl: 'https://api.example.org',
    deployed: true,
    policyFile: { name: 'helmgate-policy.yaml', text: policyYaml },
    policyDigest,
    secrets: secrets.admin,
    random,
    prompter: undefined,
    remember: () => undefined,
    githubApp: () => app,
    createGithubApp: printSetupGithubCommand,
    say: () => undefined,
    repositories: ['idr/deployment'],
    githubWebUrl: 'https://github.com',
    ...over,
  };
}

const EKS_POLICY = `apiVersion: helmgate/policy/v1
repositories:
  "*":
    environments:
      production:
        approval: required
        approvers: { github: [] }
        cluster: { eks: { name: platform-prod, region: eu-west-1 } }
        namespaces: [hub]
`;

describe('bootstrap', () => {
  test('an environment that needs approval and names nobody is missing; an EKS cluster asks for no secret', async () => {
    const r = await bootstrap(deps(EKS_POLICY));
    expect(r.incomplete).toBe(true);
    expect(r.items).toContainEqual(expect.objectContaining({ item: 'policy production', status: 'missing' }));
    expect(r.items).toContainEqual(
      expect.objectContaining({ item: 'EKS eks:platform-prod@eu-west-1', status: 'note' }),
    );
    expect(r.items.filter((i) => i.item.startsWith('secret ') && i.item.includes('cluster'))).toEqual([]);
    expect(r.writes).toBe(0);
  });

  test('approvers from the stage parameter count, and a deployed stage running another policy is noted', async () => {
    const r = await bootstrap(
      deps(EKS_POLICY, {
        mergeApprovers: (p) => {
          const copy = structuredClone(p);
          const production = copy.repositories['*']?.environments.production;
          if (!production) throw new Error('the test policy has production');
          production.approvers.github.push('alice');
          return copy;
        },
        deployedPolicyDigest: policyDigest(parsePolicy(EKS_POLICY)),
      }),
    );
    expect(r.items.find((i) => i.item === 'policy production')).toBeUndefined();
    expect(r.items).toContainEqual(
      expect.objectContaining({
        item: 'policy',
        status: 'note',
        detail: expect.stringContaining('another policy'),
      }),
    );
    expect(r.incomplete).toBe(false);
  });

  test('a policy that does not parse is invalid, and no cluster secret is invented', async () => {
    const r = await bootstrap(
      deps(
        'apiVersion: helmgate/policy/v1\nrepositories: { "*": { environments: { x: { approval: maybe } } } }\n',
      ),
    );
    expect(r.items).toContainEqual(expect.objectContaining({ item: 'policy', status: 'invalid' }));
    expect(r.items.some((i) => /cluster/.test(i.item))).toBe(false);
    expect(r.incomplete).toBe(true);
  });

  test('a missing policy file is missing', async () => {
    const d = deps(EKS_POLICY);
    const r = await bootstrap({ ...d, policyFile: { name: 'helmgate-policy.yaml', text: undefined } });
    expect(r.items).toContainEqual(
      expect.objectContaining({
        item: 'policy',
        status: 'missing',
        detail: 'helmgate-policy.yaml does not exist',
      }),
    );
  });

  test('a GitHub App whose JWT GitHub refuses is invalid, named by its secret, and nothing is written', async () => {
    const secrets = memorySecrets(ALL);
    const refusing: GithubAppAdmin = {
      ...app,
      app: async () => {
        throw Object.assign(new Error('A JSON web token could not be decoded'), { status: 401 });
      },
    };
    const r = await bootstrap(deps(EKS_POLICY, { githubApp: () => refusing }, secrets));
    expect(r.items).toContainEqual(
      expect.objectContaining({
        item: 'GitHub App',
        status: 'invalid',
        detail: "helmgate/github-app: GitHub refused the App's credentials (HTTP 401)",
      }),
    );
    expect(secrets.writes).toEqual([]);
  });

  test('an App without deployments: write or the push event is invalid, saying what it lacks', async () => {
    const weak: GithubAppAdmin = {
      ...app,
      app: async () => ({
        id: 1,
        slug: 'helmgate',
        permissions: { contents: 'write', deployments: 'read' },
        events: [],
      }),
    };
    const r = await bootstrap(deps(EKS_POLICY, { githubApp: () => weak }));
    expect(r.items).toContainEqual(
      expect.objectContaining({
        item: 'GitHub App',
        status: 'invalid',
        detail: 'App helmgate (App 1) lacks deployments: write, statuses: write, metadata: read, event push',
      }),
    );
    expect(r.items.some((i) => i.item === 'webhook')).toBe(false);
  });

  test('with the token fallback and no App, the App step is a note, not missing', async () => {
    const { 'helmgate/github-app': _app, ...rest } = ALL;
    const secrets = memorySecrets({ ...rest, 'helmgate/github-token': 'ghp_'.padEnd(40, 'x') });
    const r = await bootstrap(deps(EKS_POLICY, { mergeApprovers: (p) => p }, secrets));
    expect(r.items).toContainEqual(expect.objectContaining({ item: 'GitHub App', status: 'note' }));
    expect(r.items.some((i) => i.item === 'webhook')).toBe(false);
  });

  const freshApp = (patches: unknown[]): GithubAppAdmin => ({
    ...app,
    hookConfig: async () => ({
      url: 'https://api.example.org/webhook',
      contentType: 'json',
      hasSecret: false,
    }),
    updateHookConfig: async (p) => {
      patches.push(p);
    },
  });
  const blockingSecrets = (r: { items: Array<{ item: string; status: string }> }) =>
    r.items.filter(
      (i) => i.item.startsWith('secret ') && ['missing', 'invalid', 'pending'].includes(i.status),
    );
  const LOGIN = JSON.stringify({
    client_id: 'Iv23li0',
    client_secret: 'app-client-secret',
    kind: 'github-app',
  });

  test('an App made by setup github: its webhook secret needs no secret of its own; login reads the login secret', async () => {
    const { 'helmgate/github-webhook': _w, ...rest } = ALL;
    const secrets = memorySecrets({
      ...rest,
      'helmgate/github-app': JSON.stringify({
        appId: 1,
        slug: 'helmgate-prod',
        privateKey: 'PRIVATE KEY',
        webhookSecret: 'app-webhook-secret',
      }),
      'helmgate/github-oauth': LOGIN,
    });
    const patches: unknown[] = [];
    const r = await bootstrap(
      deps(EKS_POLICY, { githubApp: () => freshApp(patches), mergeApprovers: (p) => p }, secrets),
    );
    expect(secrets.writes).toEqual([]);
    expect(r.items).toContainEqual(
      expect.objectContaining({
        item: 'secret helmgate/github-webhook',
        status: 'ok',
        detail: expect.stringContaining('not needed'),
      }),
    );
    expect(r.items).toContainEqual(
      expect.objectContaining({ item: 'secret helmgate/github-oauth', status: 'ok' }),
    );
    expect(r.items.some((i) => i.item === 'secret helmgate/github-app')).toBe(false);
    // GitHub signs with the App's own webhook secret, the one the webhook function reads from the App secret
    expect(patches).toEqual([{ secret: 'app-webhook-secret' }]);
    expect(blockingSecrets(r)).toEqual([]);
  });

  test('the login secret is always needed: an App does not replace it', async () => {
    const { 'helmgate/github-oauth': _o, ...rest } = ALL;
    const secrets = memorySecrets(rest);
    const r = await bootstrap(deps(EKS_POLICY, { mergeApprovers: (p) => p }, secrets));
    expect(r.items).toContainEqual(
      expect.objectContaining({
        item: 'secret helmgate/github-oauth',
        status: 'missing',
        fix: expect.stringContaining('client id and a client secret of the GitHub App'),
      }),
    );
    expect(r.incomplete).toBe(true);
    expect(secrets.writes).toEqual([]);
  });

  test('an older App secret that carries clientId and clientSecret: they are copied into the login secret once, the App secret stays', async () => {
    const { 'helmgate/github-oauth': _o, ...rest } = ALL;
    const appText = JSON.stringify({
      appId: 1,
      installationId: 2,
      privateKey: 'PRIVATE KEY',
      clientId: 'Iv23li0',
      clientSecret: 'app-client-secret',
    });
    const secrets = memorySecrets({ ...rest, 'helmgate/github-app': appText });
    const remembered: string[] = [];
    const d = deps(EKS_POLICY, { mergeApprovers: (p) => p, remember: (v) => remembered.push(v) }, secrets);
    const first = await bootstrap(d);
    expect(secrets.writes).toEqual(['create helmgate/github-oauth']);
    expect(JSON.parse(secrets.values.get('helmgate/github-oauth') as string)).toEqual({
      client_id: 'Iv23li0',
      client_secret: 'app-client-secret',
      kind: 'github-app',
    });
    expect(secrets.values.get('helmgate/github-app')).toBe(appText);
    expect(remembered).toContain('app-client-secret');
    expect(first.items).toContainEqual(
      expect.objectContaining({
        item: 'secret helmgate/github-oauth',
        status: 'created',
        detail: expect.stringContaining('copied from helmgate/github-app'),
      }),
    );
    expect(first.items).toContainEqual(
      expect.objectContaining({ item: 'secret helmgate/github-app', status: 'note' }),
    );
    expect(blockingSecrets(first)).toEqual([]);
    expect(JSON.stringify(first.items)).not.toContain('app-client-secret');
    // the second run changes nothing
    const second = await bootstrap(d);
    expect(secrets.writes).toEqual(['create helmgate/github-oauth']);
    expect(second.items).toContainEqual(
      expect.objectContaining({ item: 'secret helmgate/github-oauth', status: 'ok' }),
    );
  });

  test('without an App yet, the login secret waits for setup github; with the token fallback it is an OAuth app’s, missing', async () => {
    const { 'helmgate/github-oauth': _o, 'helmgate/github-app': _a, ...rest } = ALL;
    const pending = await bootstrap(deps(EKS_POLICY, { mergeApprovers: (p) => p }, memorySecrets(rest)));
    expect(pending.items).toContainEqual(
      expect.objectContaining({
        item: 'secret helmgate/github-oauth',
        status: 'pending',
        fix: expect.stringContaining('npx helmgate setup github --stage prod'),
      }),
    );
    const token = memorySecrets({ ...rest, 'helmgate/github-token': 'ghp_'.padEnd(40, 'x') });
    const fallback = await bootstrap(deps(EKS_POLICY, { mergeApprovers: (p) => p }, token));
    expect(fallback.items).toContainEqual(
      expect.objectContaining({ item: 'secret helmgate/github-oauth', status: 'missing' }),
    );
    expect(token.writes).toEqual([]);
  });

  test('a repository the App is not installed on is missing, with the install URL; a pinned installation that does not serve it is invalid', async () => {
    const notThere: GithubAppAdmin = {
      ...app,
      installationFor: async (repo) =>
        repo === 'idr/deployment' ? { id: 2 } : repo === 'idr/other' ? { id: 3 } : undefined,
    };
    const r = await bootstrap(
      deps(EKS_POLICY, {
        githubApp: () => notThere,
        repositories: ['idr/deployment', 'idr/other', 'idr/missing'],
        mergeApprovers: (p) => p,
      }),
    );
    expect(r.items).toContainEqual(
      expect.objectContaining({
        item: 'GitHub App on idr/missing',
        status: 'missing',
        fix: 'install it: https://github.com/apps/helmgate/installations/new',
      }),
    );
    expect(r.items).toContainEqual(
      expect.objectContaining({
        item: 'GitHub App on idr/other',
        status: 'invalid',
        detail: 'served by installation 3, but helmgate/github-app pins installation 2',
      }),
    );
    expect(r.items.some((i) => i.item === 'webhook')).toBe(false);
    expect(r.incomplete).toBe(true);
  });

  test('--rotate of a value a person supplied is refused before anything is read', async () => {
    const secrets = memorySecrets(ALL);
    await expect(bootstrap(deps(EKS_POLICY, { rotate: ['helmgate/github-oauth'] }, secrets))).rejects.toThrow(
      '--rotate: helmgate/github-oauth cannot be rotated by bootstrap',
    );
    expect(secrets.writes).toEqual([]);
  });
});
