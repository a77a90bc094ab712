/**
 * The composition root of `helmgate bootstrap`: Secrets Manager as an administrator uses it, the
 * deployed stage's configuration (Lambda GetFunctionConfiguration), the GitHub App client, and what
 * `secrets check` needs. Credentials come from the environment the CLI was given (or the SDK's chain).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { GithubAppAdmin, SecretsAdmin } from '../bootstrap/bootstrap';
import { DEFAULT_SECRET_IDS, type StageSecretIds } from '../bootstrap/secret-specs';
import type { SecretsCheckTarget } from '../cli/plan-command';
import type { TargetEnv } from '../cli/target';
import { loadConfig } from '../config/env';
import { type LoadedPolicy, loadPolicy } from '../config/policy-loader';
import { HelmgateError } from '../errors';
import { createProcessRunner } from '../exec/command-runner';
import { gitOver } from '../exec/git';
import { githubAppAdmin } from '../github/app-admin';
import { originRepository } from '../github/origin-repository';
import { Redactor } from '../log/redact';
import { SecretsManagerProvider } from '../secrets/secrets-manager-provider';

/** serverless.yml: `service: helmgate`; osls names functions `<service>-<stage>-<function>`. */
const SERVICE = 'helmgate';

const notFound = (e: unknown) => (e as { name?: string }).name === 'ResourceNotFoundException';

/** The SDK's error, reduced to its class: its message may quote a request, never a value of ours. */
function sdkFailure(what: string, e: unknown): HelmgateError {
  return new HelmgateError('unavailable', `${what} failed: ${(e as { name?: string }).name ?? 'error'}`, {
    cause: e,
  });
}

/** Secrets Manager for an administrator: inspect, create (never over a value), a new version. */
export function secretsAdminOver(client: SecretsManagerClient): SecretsAdmin {
  return {
    async inspect(id) {
      try {
        const out = await client.send(new GetSecretValueCommand({ SecretId: id }));
        const value =
          out.SecretString ?? (out.SecretBinary ? Buffer.from(out.SecretBinary).toString('utf8') : undefined);
        if (value !== undefined) return { state: 'present', value };
      } catch (e) {
        if (!notFound(e)) throw sdkFailure(`reading ${id}`, e);
      }
      // no current value: does the secret exist at all (created without one)?
      try {
        await client.send(new DescribeSecretCommand({ SecretId: id }));
        return { state: 'valueless' };
      } catch (e) {
        if (notFound(e)) return { state: 'absent' };
        throw sdkFailure(`describing ${id}`, e);
      }
    },
    async create(id, value, description) {
      try {
        await client.send(
          new CreateSecretCommand({ Name: id, SecretString: value, Description: description }),
        );
      } catch (e) {
        throw sdkFailure(`creating ${id}`, e);
      }
    },
    async putValue(id, value) {
      try {
        await client.send(new PutSecretValueCommand({ SecretId: id, SecretString: value }));
      } catch (e) {
        throw sdkFailure(`storing a value of ${id}`, e);
      }
    },
  };
}

/** What the deployed stack says about itself (the functions' environment), or that it is not deployed. */
export interface DeployedStage {
  deployed: boolean;
  /** the webhook function's variables: HELMGATE_PUBLIC_URL, the secret ids, HELMGATE_POLICY… */
  env: Record<string, string>;
  /** the runner's (its Slack secret id) */
  runnerEnv: Record<string, string>;
}

async function functionEnv(lambda: LambdaClient, name: string): Promise<Record<string, string> | undefined> {
  try {
    const out = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    return { ...(out.Environment?.Variables ?? {}) };
  } catch (e) {
    if (notFound(e)) return undefined;
    const denied = (e as { name?: string }).name === 'AccessDeniedException';
    throw sdkFailure(
      `reading the configuration of ${name}${denied ? ' (your credentials need lambda:GetFunctionConfiguration on it)' : ''}`,
      e,
    );
  }
}

export async function readDeployedStage(lambda: LambdaClient, stage: string): Promise<DeployedStage> {
  const env = await functionEnv(lambda, `${SERVICE}-${stage}-webhook`);
  if (!env) return { deployed: false, env: {}, runnerEnv: {} };
  return {
    deployed: true,
    env,
    runnerEnv: (await functionEnv(lambda, `${SERVICE}-${stage}-deployRunner`)) ?? {},
  };
}

/** The stage's secret names: as deployed, else as the CLI's environment says (serverless.yml's defaults). */
export function stageSecretIds(
  deployed: DeployedStage,
  env: Readonly<Record<string, string | undefined>>,
): StageSecretIds {
  const pick = (k: string, fallback: string) => deployed.env[k] || env[k] || fallback;
  return {
    webhook: pick('HELMGATE_WEBHOOK_SECRET_ID', DEFAULT_SECRET_IDS.webhook),
    signingKey: pick('HELMGATE_SIGNING_KEY_ID', DEFAULT_SECRET_IDS.signingKey),
    apiTokens: pick('HELMGATE_API_TOKENS_ID', DEFAULT_SECRET_IDS.apiTokens),
    githubApp: pick('HELMGATE_GITHUB_APP_SECRET_ID', DEFAULT_SECRET_IDS.githubApp),
    githubToken: pick('HELMGATE_GITHUB_TOKEN_ID', DEFAULT_SECRET_IDS.githubToken),
    oauth: pick('HELMGATE_OAUTH_SECRET_ID', DEFAULT_SECRET_IDS.oauth),
    slack: pick('HELMGATE_SLACK_SECRET_ID', DEFAULT_SECRET_IDS.slack),
    slackBot: deployed.runnerEnv.HELMGATE_SLACK_SECRET_ID || DEFAULT_SECRET_IDS.slackBot,
    digestKey: DEFAULT_SECRET_IDS.digestKey,
  };
}

export interface BootstrapOptions {
  stage: string;
  region?: string;
  /** the API's public URL (a custom domain, or before the stack reports one) */
  url?: string;
  /** the policy file (default helmgate-policy.yaml in the checkout) */
  policyFile?: string;
  repository?: string;
}

/** Everything `bootstrap` acts on, built for one run. */
export interface BootstrapWiring {
  region: string;
  secrets: SecretsAdmin;
  deployedStage: () => Promise<DeployedStage>;
  githubApp: (appSecretText: string, secretName: string) => GithubAppAdmin;
  /** GitHub's web URL (HELMGATE_GITHUB_WEB_URL): the App's install page */
  githubWebUrl: string;
  /** the policy file's path and text (undefined when it does not exist) */
  policyFile: { path: string; text: string | undefined };
  repoDir: string;
  /** the pre-flight's target: the checkout's deploy config planned under the policy file */
  checkTarget: (deployed: DeployedStage) => SecretsCheckTarget;
  redactor: Redactor;
  close(): void;
}

/**
 * The region: `--region`, else AWS_REGION / AWS_DEFAULT_REGION, else serverless.yml's default
 * (eu-west-1) — the stack's region, not the SDK's.
 */
export function bootstrapRegion(
  opts: BootstrapOptions,
  env: Readonly<Record<string, string | undefined>>,
): string {
  return opts.region || env.AWS_REGION || env.AWS_DEFAULT_REGION || 'eu-west-1';
}

export function composeBootstrap(opts: BootstrapOptions, t: TargetEnv): BootstrapWiring {
  const region = bootstrapRegion(opts, t.env);
  const config = loadConfig({
    ...t.env,
    AWS_REGION: region,
    HELMGATE_REPOSITORIES: t.env.HELMGATE_REPOSITORIES || 'helmgate/cli',
  });
  // the environment the CLI was given wins over the SDK reading process.env (tests inject it)
  const credentials =
    t.env.AWS_ACCESS_KEY_ID && t.env.AWS_SECRET_ACCESS_KEY
      ? {
          credentials: {
            accessKeyId: t.env.AWS_ACCESS_KEY_ID,
            secretAccessKey: t.env.AWS_SECRET_ACCESS_KEY,
            ...(t.env.AWS_SESSION_TOKEN ? { sessionToken: t.env.AWS_SESSION_TOKEN } : {}),
          },
        }
      : {};
  const sm = new SecretsManagerClient({
    region,
    ...credentials,
    ...(config.HELMGATE_SECRETS_ENDPOINT ? { endpoint: config.HELMGATE_SECRETS_ENDPOINT } : {}),
  });
  const lambda = new LambdaClient({
    region,
    ...credentials,
    ...(config.HELMGATE_LAMBDA_ENDPOINT ? { endpoint: config.HELMGATE_LAMBDA_ENDPOINT } : {}),
  });
  const redactor = new Redactor();
  const repoDir = path.resolve(t.cwd, t.env.HELMGATE_REPO_DIR ?? '.');
  const policyPath = path.resolve(repoDir, opts.policyFile ?? 'helmgate-policy.yaml');
  const policyText = existsSync(policyPath) ? readFileSync(policyPath, 'utf8') : undefined;
  const git = gitOver(createProcessRunner(), t.env);
  const provider = new SecretsManagerProvider(sm);
  return {
    region,
    secrets: secretsAdminOver(sm),
    deployedStage: () => readDeployedStage(lambda, opts.stage),
    githubApp: (text, secretName) =>
      githubAppAdmin(text, { baseUrl: config.HELMGATE_GITHUB_API_URL, secretName, clock: t.clock }),
    githubWebUrl: config.HELMGATE_GITHUB_WEB_URL,
    policyFile: { path: policyPath, text: policyText },
    repoDir,
    checkTarget: (deployed) => {
      let loaded: LoadedPolicy | undefined;
      return {
        git,
        repoDir,
        deployConfigPath: deployed.env.HELMGATE_DEPLOY_CONFIG || config.HELMGATE_DEPLOY_CONFIG,
        policy: () => {
          loaded ??= loadPolicy({
            HELMGATE_POLICY: policyPath,
            HELMGATE_APPROVERS: deployed.env.HELMGATE_APPROVERS ?? config.HELMGATE_APPROVERS,
            HELMGATE_REPOSITORIES: [],
            HELMGATE_DEPLOY_CONFIG: config.HELMGATE_DEPLOY_CONFIG,
          });
          return loaded;
        },
        repository: async () =>
          opts.repository ??
          firstCsv(deployed.env.HELMGATE_REPOSITORIES) ??
          firstCsv(t.env.HELMGATE_REPOSITORIES) ??
          (await originRepository(git, repoDir)),
        secretsProvider: provider,
        redactor,
        renderOnly: false,
      };
    },
    redactor,
    close: () => {
      sm.destroy();
      lambda.destroy();
    },
  };
}

function firstCsv(v: string | undefined): string | undefined {
  return v
    ?.split(',')
    .map((s) => s.trim())
    .find(Boolean);
}
