import { HelmgateError } from '../errors';
import type { Random } from '../random';
import { type CreatedGithubApp, createGithubAppViaManifest, type SecretWriter } from '../setup/github-app';
import type { Output } from './output';
import { CliUsageError } from './target';

export interface SetupGithubOptions {
  stage: string;
  publicUrl?: string;
  org?: string;
  name?: string;
  teamApprovers?: boolean;
  secretId?: string;
  /** the login secret for the App's client id and secret (default HELMGATE_OAUTH_SECRET_ID) */
  loginSecretId?: string;
  replace?: boolean;
  open?: boolean;
  timeoutSeconds: number;
}

export interface SetupGithubDeps {
  writer: SecretWriter;
  /** whether a secret exists already (a second App is made only with --replace) */
  exists: (secretId: string) => Promise<boolean>;
  githubWebUrl: string;
  githubApiUrl: string;
  /** HELMGATE_PUBLIC_URL when set in the environment */
  publicUrl: string | undefined;
  defaultSecretId: string;
  defaultLoginSecretId: string;
  openBrowser: (url: string) => Promise<void>;
  random: Random;
  /** whether the operator policy names GitHub teams as approvers (undefined: no policy here) */
  policyNamesTeams: () => boolean | undefined;
}

/** `helmgate setup github --stage <s>`: the GitHub App through GitHub's App-manifest flow (lib/setup/github-app.ts). */
export async function setupGithubCommand(
  o: Output,
  deps: SetupGithubDeps,
  opts: SetupGithubOptions,
): Promise<number> {
  const publicUrl = opts.publicUrl ?? deps.publicUrl;
  if (!publicUrl)
    throw new CliUsageError(
      `the stage's public URL is needed for the App's webhook and login callback: --public-url https://… (the stack's HttpApiUrl output) or HELMGATE_PUBLIC_URL`,
    );
  const secretId = opts.secretId ?? deps.defaultSecretId;
  if (!opts.replace && (await deps.exists(secretId)))
    throw new HelmgateError(
      'conflict',
      `${secretId} exists already: the stage has a GitHub App. Add --replace to create a new App and replace its credentials`,
    );
  let teamApprovers = opts.teamApprovers === true;
  if (!teamApprovers && deps.policyNamesTeams() === true) {
    teamApprovers = true;
    o.note('The policy names GitHub teams as approvers: the App asks for Members: read.');
  }
  const created: CreatedGithubApp = await createGithubAppViaManifest(
    {
      secrets: deps.writer,
      githubWebUrl: deps.githubWebUrl,
      githubApiUrl: deps.githubApiUrl,
      openBrowser: opts.open === false ? async () => {} : deps.openBrowser,
      print: (line) => o.note(line),
      random: deps.random,
    },
    {
      stage: opts.stage,
      publicUrl,
      secretId,
      loginSecretId: opts.loginSecretId ?? deps.defaultLoginSecretId,
      timeoutMs: opts.timeoutSeconds * 1000,
      ...(opts.org ? { org: opts.org } : {}),
      ...(opts.name ? { name: opts.name } : {}),
      ...(teamApprovers ? { teamApprovers: true } : {}),
    },
  );
  o.result(created, `GitHub App ${created.slug} created; install it: ${created.installUrl}`);
  return 0;
}
