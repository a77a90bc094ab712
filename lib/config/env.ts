import * as z from 'zod';
import { HelmgateError } from '../errors';

const csv = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);
const positiveInt = z.coerce.number().int().positive();

/**
 * Everything helmgate reads from the environment, in one schema. Handlers read it once at module
 * scope; the core only ever sees the parsed `AppConfig`.
 */
export const AppConfig = z.object({
  HELMGATE_STAGE: z.string().min(1).default('local'),
  HELMGATE_TABLE: z.string().min(1).default('helmgate'),
  /** `owner/name` of every repository whose pushes are accepted. */
  HELMGATE_REPOSITORIES: csv.pipe(
    z.array(z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'expected owner/name')).min(1),
  ),
  /** Branches that deploy; empty = the repository's default branch from the payload. */
  HELMGATE_BRANCHES: csv.default([]),
  HELMGATE_DEPLOY_CONFIG: z.string().min(1).default('deploy.yaml'),
  HELMGATE_MAX_BODY_BYTES: positiveInt.default(5 * 1024 * 1024),
  /** Secrets Manager id holding the GitHub webhook secret(s): a string, or JSON {"secrets":[...]} for rotation. */
  HELMGATE_WEBHOOK_SECRET_ID: z.string().min(1).default('helmgate/github-webhook'),
  /** Public base URL of the API (approval links). */
  HELMGATE_PUBLIC_URL: z.string().url().default('http://127.0.0.1:3000'),
  HELMGATE_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  HELMGATE_DYNAMODB_ENDPOINT: z.string().url().optional(),
  HELMGATE_SECRETS_ENDPOINT: z.string().url().optional(),
  /** tests: a loopback EKS API for DescribeCluster (default: the region's) */
  HELMGATE_EKS_ENDPOINT: z.string().url().optional(),
  /** tests: a loopback Lambda API (`helmgate bootstrap` reads the deployed stage's configuration) */
  HELMGATE_LAMBDA_ENDPOINT: z.string().url().optional(),
  HELMGATE_RUNNER_FUNCTION: z.string().min(1).optional(),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  /** Secrets Manager ids of helmgate's own secrets */
  HELMGATE_GITHUB_TOKEN_ID: z.string().min(1).default('helmgate/github-token'),
  /** a GitHub App (JSON appId, privateKey, installationId); used instead of the token when it exists */
  HELMGATE_GITHUB_APP_SECRET_ID: z.string().min(1).default('helmgate/github-app'),
  HELMGATE_OAUTH_SECRET_ID: z.string().min(1).default('helmgate/github-oauth'),
  HELMGATE_SIGNING_KEY_ID: z.string().min(1).default('helmgate/approval-signing-key'),
  /** bearer tokens for the read API: a string, or JSON {"tokens": [...]} while rotating */
  HELMGATE_API_TOKENS_ID: z.string().min(1).default('helmgate/api-tokens'),
  /** JSON {botToken, signingSecret, previousSigningSecrets?, channel}; absent secret = no Slack */
  HELMGATE_SLACK_SECRET_ID: z.string().min(1).default('helmgate/slack'),
  /** GitHub Enterprise: https://ghe.example.org/api/v3 and https://ghe.example.org */
  HELMGATE_GITHUB_API_URL: z.string().url().default('https://api.github.com'),
  HELMGATE_GITHUB_WEB_URL: z.string().url().default('https://github.com'),
  /**
   * The operator's policy (docs/policy.md): the document itself (JSON, starting with "{") or the path
   * of a YAML/JSON file. Unset: locally the working tree's deploy.yaml implies it; in AWS it is required.
   */
  HELMGATE_POLICY: z.string().min(1).optional(),
  /**
   * Legacy, still accepted and merged into the policy's approvers: JSON
   * {"production": {"github": [...], "githubTeams": [...], "slack": [...], "required": 1}}
   */
  HELMGATE_APPROVERS: z.string().default('{}'),
  /**
   * The deploy runner in AWS: JSON {"<owner/name or *>#<environment>": "<role ARN>"} (set by
   * scripts/serverless-policy.cjs). Deployment secrets are read only through that environment's role.
   */
  HELMGATE_ENVIRONMENT_ROLES: z.string().min(2).optional(),
  HELMGATE_APPROVAL_TTL_HOURS: z.coerce.number().positive().default(24),
  /**
   * How long a GitHub login lasts on the approval pages. One hour: approving is a short visit, and
   * logging in again is one click while GitHub remembers the grant (was a fixed 8 hours).
   */
  HELMGATE_SESSION_TTL_MINUTES: z.coerce
    .number()
    .int()
    .min(5)
    .max(24 * 60)
    .default(60),
  /** Slack workspaces (team ids) whose button presses count; empty = whichever the signing secret covers */
  HELMGATE_SLACK_TEAM_IDS: csv
    .pipe(z.array(z.string().regex(/^T[A-Z0-9]+$/, 'expected a Slack team id')))
    .default([]),
  /** the deploy runner's helm binary and pre-pulled chart cache (the container image sets both) */
  HELMGATE_HELM_BIN: z.string().min(1).optional(),
  HELMGATE_CHART_CACHE: z.string().min(1).optional(),
  /** CloudWatch namespace of the deploy metrics (embedded metric format on stdout) */
  HELMGATE_METRICS_NAMESPACE: z.string().min(1).default('Helmgate'),
  /** parallel helm releases per deployment */
  HELMGATE_CONCURRENCY: positiveInt.default(4),
  /** Lambda sets it: the Slack function sends its background jobs to itself */
  AWS_LAMBDA_FUNCTION_NAME: z.string().min(1).optional(),
});
export type AppConfig = z.infer<typeof AppConfig>;

/** The variables of this process. The one place in lib that reads `process.env`: entry points and the
 * composition root call it and pass the result on (child processes get an allow-listed subset). */
export function processEnv(): Readonly<Record<string, string | undefined>> {
  return process.env;
}

export class ConfigError extends HelmgateError {
  override name = 'ConfigError';
  constructor(message: string) {
    super('invalid_config', message);
  }
}

/** Parses the environment; the error names every missing or bad variable (never its value). */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): AppConfig {
  const result = AppConfig.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return result.data;
}
