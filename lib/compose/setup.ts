/**
 * The composition root of `helmgate setup`: Secrets Manager from the environment (AWS_REGION,
 * HELMGATE_SECRETS_ENDPOINT, the SDK's credential chain), the browser opener, GitHub's URLs.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type CommandRunner, createProcessRunner } from '../exec/command-runner';
import { parsePolicy } from '../policy/policy';
import { SecretsManagerProvider, SecretsManagerWriter } from '../secrets/secrets-manager-provider';

export interface SetupEnvironment {
  githubWebUrl: string;
  githubApiUrl: string;
  githubAppSecretId: string;
  /** the login secret (the App's client id and secret go there) */
  oauthSecretId: string;
  writer: SecretsManagerWriter;
  reader: SecretsManagerProvider;
}

/**
 * What setup needs from the environment. Not the service's whole configuration (loadConfig): setup
 * runs before a stage exists, without HELMGATE_REPOSITORIES or a table.
 */
export function setupEnvironment(env: Readonly<Record<string, string | undefined>>): SetupEnvironment {
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  const client = new SecretsManagerClient({
    ...(region ? { region } : {}),
    ...(env.HELMGATE_SECRETS_ENDPOINT ? { endpoint: env.HELMGATE_SECRETS_ENDPOINT } : {}),
  });
  return {
    githubWebUrl: env.HELMGATE_GITHUB_WEB_URL || 'https://github.com',
    githubApiUrl: env.HELMGATE_GITHUB_API_URL || 'https://api.github.com',
    githubAppSecretId: env.HELMGATE_GITHUB_APP_SECRET_ID || 'helmgate/github-app',
    oauthSecretId: env.HELMGATE_OAUTH_SECRET_ID || 'helmgate/github-oauth',
    writer: new SecretsManagerWriter(client),
    reader: new SecretsManagerProvider(client),
  };
}

/**
 * Opens a URL in the person's browser: `open` (macOS), `explorer.exe` (Windows), else `xdg-open`. The
 * URL is the loopback setup page (no credential in it); argv only, no shell.
 */
export function systemBrowserOpener(
  platform: NodeJS.Platform = process.platform,
  runner: CommandRunner = createProcessRunner(),
  env: Readonly<Record<string, string | undefined>> = process.env,
): (url: string) => Promise<void> {
  const command = platform === 'darwin' ? 'open' : platform === 'win32' ? 'explorer.exe' : 'xdg-open';
  const childEnv: Record<string, string> = {};
  for (const k of [
    'PATH',
    'HOME',
    'DISPLAY',
    'WAYLAND_DISPLAY',
    'XDG_RUNTIME_DIR',
    'DBUS_SESSION_BUS_ADDRESS',
    'BROWSER',
  ])
    if (env[k] !== undefined) childEnv[k] = env[k] as string;
  return async (url) => {
    const r = await runner.run(command, [url], { env: childEnv, timeoutMs: 15_000 });
    if (r.code !== 0 && !(platform === 'win32' && r.code === 1))
      throw new Error(`${command} exited ${r.code}`);
  };
}

/**
 * Whether the operator policy (HELMGATE_POLICY, else `helmgate-policy.yaml` in `cwd`) names GitHub
 * teams as approvers — then the App needs the organization permission Members: read. Undefined when
 * there is no policy to read.
 */
export function policyNamesTeams(
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): boolean | undefined {
  const raw = env.HELMGATE_POLICY?.trim();
  let text: string;
  if (raw?.startsWith('{')) text = raw;
  else {
    const file = path.resolve(cwd, raw || 'helmgate-policy.yaml');
    if (!existsSync(file)) return undefined;
    text = readFileSync(file, 'utf8');
  }
  const policy = parsePolicy(text, 'the policy');
  const named = (v: unknown): boolean => {
    if (Array.isArray(v)) return v.some(named);
    if (v && typeof v === 'object')
      return Object.entries(v).some(
        ([k, x]) => (k === 'githubTeams' && Array.isArray(x) && x.length > 0) || named(x),
      );
    return false;
  };
  return named(policy);
}
