import { parseOAuthClient } from '../auth/github-oauth';
import { parseApiTokens } from '../auth/read-access';
import { clusterLabel } from '../deploy/cluster-ref';
import { HelmgateError } from '../errors';
import type { Policy } from '../policy/policy';
import type { Random } from '../random';
import { parseSecretList } from '../secrets/secrets-provider';
import { parseSlackSecret } from '../slack/slack-secret';

/** The names of helmgate's own secrets in one stage (the stack's parameters, serverless.yml). */
export interface StageSecretIds {
  webhook: string;
  signingKey: string;
  apiTokens: string;
  githubApp: string;
  githubToken: string;
  oauth: string;
  slack: string;
  slackBot: string;
  digestKey: string;
}

/** serverless.yml's defaults (params.default), which the Lambdas' own defaults repeat (lib/config/env.ts). */
export const DEFAULT_SECRET_IDS: StageSecretIds = {
  webhook: 'helmgate/github-webhook',
  signingKey: 'helmgate/approval-signing-key',
  apiTokens: 'helmgate/api-tokens',
  githubApp: 'helmgate/github-app',
  githubToken: 'helmgate/github-token',
  oauth: 'helmgate/github-oauth',
  slack: 'helmgate/slack',
  slackBot: 'helmgate/slack-bot',
  digestKey: 'helmgate/digest-key',
};

/** One value a person types; `hidden` ones are never echoed. */
export interface PromptField {
  key: string;
  label: string;
  hidden: boolean;
}

/** Where a secret's value comes from when it is missing. */
export type SecretSource =
  /** random bytes: nobody needs to know the value (webhook secret, keys, API token) */
  | {
      kind: 'generated';
      generate: (random: Random) => string;
      /**
       * `--rotate`: what is stored in place of `current` (default: `fresh` alone), what that means, and
       * whether the first value of what is stored is now the one to use (the webhook's: GitHub's)
       */
      rotate?: (current: string, fresh: string) => { value: string; detail: string; inEffect: boolean };
    }
  /** only a person has it (Slack tokens, a cluster's credentials, an OAuth client): asked without echo */
  | {
      kind: 'person';
      fields: PromptField[];
      build: (answers: Record<string, string>) => string;
      hint: string;
    }
  /** computed from another secret of the stage (the runner's Slack secret from Slack's) */
  | { kind: 'derived'; from: string; derive: (fromValue: string) => string | undefined }
  /** created by `osls deploy` (a CloudFormation resource): bootstrap must not create it first */
  | { kind: 'stack' };

export interface SecretSpec {
  id: string;
  /** what it is for, one line */
  purpose: string;
  source: SecretSource;
  /** optional secrets (Slack) may stay missing */
  optional: boolean;
  /** why an existing value is unusable (names fields, never a value), or undefined when it is fine */
  validate?: (value: string) => string | undefined;
}

const problemOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e instanceof HelmgateError ? e.message : 'unreadable';
  }
};

const nonEmpty = (v: string) => (v.trim() === '' ? 'empty' : undefined);

/** The webhook secret: a string, or `{"secrets": [...]}` while rotating, read as the webhook reads it. */
function webhookProblem(v: string): string | undefined {
  return parseSecretList(v).length === 0 ? 'empty' : undefined;
}

/** The webhook secret GitHub should sign with: the string, or the first of the rotation list. */
export function currentWebhookSecret(v: string): string {
  return parseSecretList(v)[0] ?? v;
}

/** Cluster secrets the policy names (EKS clusters have none), each with the environments using it. */
export function policyClusterSecrets(policy: Policy): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [repository, rp] of Object.entries(policy.repositories))
    for (const [environment, env] of Object.entries(rp.environments)) {
      if (!('secret' in env.cluster)) continue;
      const where = repository === '*' ? environment : `${repository} ${environment}`;
      out.set(env.cluster.secret, [...(out.get(env.cluster.secret) ?? []), where]);
    }
  return out;
}

/** EKS clusters the policy names: reached through IAM, no secret (an access entry instead). */
export function policyEksClusters(policy: Policy): Array<{ environment: string; label: string }> {
  const out: Array<{ environment: string; label: string }> = [];
  for (const [repository, rp] of Object.entries(policy.repositories))
    for (const [environment, env] of Object.entries(rp.environments))
      if ('eks' in env.cluster)
        out.push({
          environment: repository === '*' ? environment : `${repository} ${environment}`,
          label: clusterLabel(env.cluster),
        });
  return out;
}

/**
 * Every secret a stage reads besides the GitHub App's (checked by its own step) and the deployed
 * repository's (`secrets check`): helmgate's control secrets and the clusters the policy names.
 */
export function stageSecretSpecs(ids: StageSecretIds, policy: Policy | undefined): SecretSpec[] {
  const specs: SecretSpec[] = [
    {
      id: ids.webhook,
      purpose: 'GitHub webhook secret (signs every delivery)',
      source: {
        kind: 'generated',
        generate: (r) => r.bytes(32).toString('hex'),
        // two steps, because the webhook function caches the secret for 5 minutes: first both are
        // accepted; the second --rotate (after 5 minutes) gives the App the new one and drops the old
        rotate: (current, fresh) => {
          const list = parseSecretList(current);
          return list.length >= 2
            ? {
                value: JSON.stringify({ secrets: [list[0]] }),
                detail:
                  'step 2 of 2: the App signs with the new secret, the previous one is no longer accepted',
                inEffect: true,
              }
            : {
                value: JSON.stringify({ secrets: [fresh, list[0] ?? current] }),
                detail:
                  'step 1 of 2: a new secret, accepted beside the previous one; after 5 minutes (the webhook caches it) --rotate it again to move the App to it',
                inEffect: false,
              };
        },
      },
      optional: false,
      validate: webhookProblem,
    },
    {
      id: ids.signingKey,
      purpose: 'key of session and login-state cookies',
      source: { kind: 'generated', generate: (r) => r.bytes(32).toString('hex') },
      optional: false,
      validate: nonEmpty,
    },
    {
      id: ids.apiTokens,
      purpose: 'bearer token of the read API (GET /deployments…)',
      source: {
        kind: 'generated',
        generate: (r) => r.bytes(32).toString('base64url'),
        // scripts holding the previous token keep working until the next rotation
        rotate: (current, fresh) => {
          const previous = parseApiTokens(current)[0];
          return {
            value: previous ? JSON.stringify({ tokens: [fresh, previous] }) : fresh,
            detail:
              'a new token (read it from Secrets Manager); the previous one is accepted until the next rotation',
            inEffect: true,
          };
        },
      },
      optional: false,
      validate: (v) => (parseApiTokens(v).length === 0 ? 'no token in it' : undefined),
    },
    {
      id: ids.digestKey,
      purpose: "key of the runner's digests of secret content",
      source: { kind: 'stack' },
      optional: false,
      validate: nonEmpty,
    },
    {
      id: ids.oauth,
      purpose:
        'GitHub login of approvers (the GitHub App’s client id and secret, which helmgate setup github stores, or an OAuth app’s)',
      source: {
        kind: 'person',
        hint: 'the client id and a client secret of the GitHub App (App settings → General) or of an OAuth app with callback <api>/auth/github/callback',
        fields: [
          { key: 'client_id', label: 'GitHub client id', hidden: false },
          { key: 'client_secret', label: 'GitHub client secret', hidden: true },
        ],
        build: (a) => JSON.stringify({ client_id: a.client_id, client_secret: a.client_secret }),
      },
      optional: false,
      validate: (v) => problemOf(() => parseOAuthClient(v, ids.oauth)),
    },
    {
      id: ids.slack,
      purpose: 'Slack messages and buttons (optional)',
      source: {
        kind: 'person',
        hint: 'create the Slack app from docs/slack-app-manifest.yaml, install it, invite the bot to the channel',
        fields: [
          { key: 'botToken', label: 'Slack bot token (xoxb-…)', hidden: true },
          { key: 'signingSecret', label: 'Slack signing secret', hidden: true },
          { key: 'channel', label: 'Slack channel id (C0…)', hidden: false },
        ],
        build: (a) =>
          JSON.stringify({ botToken: a.botToken, signingSecret: a.signingSecret, channel: a.channel }),
      },
      optional: true,
      validate: (v) => problemOf(() => parseSlackSecret(v)),
    },
    {
      id: ids.slackBot,
      purpose: "the runner's Slack secret: bot token and channel, no signing secret",
      source: {
        kind: 'derived',
        from: ids.slack,
        derive: (slack) => {
          try {
            const s = parseSlackSecret(slack);
            return JSON.stringify({ botToken: s.botToken, ...(s.channel ? { channel: s.channel } : {}) });
          } catch {
            return undefined;
          }
        },
      },
      optional: true,
      validate: (v) =>
        problemOf(() => {
          if (parseSlackSecret(v).signingSecrets.length > 0)
            throw new HelmgateError('invalid_config', 'holds a signing secret: the runner must not have one');
        }),
    },
  ];
  for (const [secret, environments] of policy ? policyClusterSecrets(policy) : [])
    specs.push({
      id: secret,
      purpose: `cluster credentials of ${environments.join(', ')}`,
      source: {
        kind: 'person',
        hint: 'a service account token with its API server and CA (or give the environment an EKS cluster in the policy: no secret)',
        fields: [
          { key: 'server', label: `${secret}: API server URL (https://…)`, hidden: false },
          {
            key: 'certificateAuthorityData',
            label: `${secret}: CA data (base64, as in a kubeconfig)`,
            hidden: false,
          },
          { key: 'token', label: `${secret}: service account token`, hidden: true },
        ],
        build: (a) =>
          JSON.stringify({
            server: a.server,
            certificateAuthorityData: a.certificateAuthorityData,
            token: a.token,
          }),
      },
      optional: false,
      validate: nonEmpty,
    });
  return specs;
}
