/**
 * `helmgate bootstrap --stage <s>` (issue 15 item 4): checks, and creates where it can, what a stage
 * needs — helmgate's secrets, the operator policy, the GitHub App and its webhook — without ever
 * overwriting a value that exists. Every effect is a port: Secrets Manager, the GitHub App, the
 * operator's terminal, the App's creation (`helmgate setup github`). Values pass through `remember`
 * (the output's redactor) before anything could print them, and are never part of a message.
 */
import { HelmgateError } from '../errors';
import { type Policy, parsePolicy } from '../policy/policy';
import type { Random } from '../random';
import {
  currentWebhookSecret,
  policyClusterSecrets,
  policyEksClusters,
  type SecretSpec,
  type StageSecretIds,
  stageSecretSpecs,
} from './secret-specs';

/** Port: Secrets Manager as the operator administers it. */
export interface SecretsAdmin {
  /** absent; created without a value; or its current value */
  inspect(
    id: string,
  ): Promise<{ state: 'absent' } | { state: 'valueless' } | { state: 'present'; value: string }>;
  /** creates the secret with its first value (fails when it exists: never an overwrite) */
  create(id: string, value: string, description: string): Promise<void>;
  /** a new current value: the first of a secret created without one, or `--rotate` (never otherwise) */
  putValue(id: string, value: string): Promise<void>;
}

/** Port: the operator at a terminal. Absent = non-interactive (`--yes`, CI, no TTY). */
export interface Prompter {
  /** one line; `hidden` ones are not echoed. An empty answer skips. */
  ask(question: string, opts: { hidden: boolean }): Promise<string>;
}

/** Port: the GitHub App, authenticated with its own credentials (a JWT, then an installation token). */
export interface GithubAppAdmin {
  /** GET /app with the App's JWT: who it is, what it may do, which events it receives */
  app(): Promise<{ id: number; slug: string; permissions: Record<string, string>; events: string[] }>;
  /** which installation serves `owner/name` (GET /repos/{owner}/{repo}/installation as the App); undefined: none */
  installationFor(repository: string): Promise<{ id: number } | undefined>;
  /** exchanges the JWT for a token of that installation (proves the key and the installation) */
  installationToken(installationId: number): Promise<void>;
  /** GET /app/hook/config (GitHub never returns the secret, only whether one is set) */
  hookConfig(): Promise<{ url: string; contentType: string; hasSecret: boolean }>;
  /** PATCH /app/hook/config */
  updateHookConfig(patch: { url?: string; contentType?: 'json'; secret?: string }): Promise<void>;
}

/** What `createGithubApp` is given: where the App must point and where its credentials go. */
export interface CreateGithubAppContext {
  stage: string;
  region: string;
  /** the stage's API URL, when known (the App's webhook and callback URLs hang off it) */
  publicUrl: string | undefined;
  appSecretId: string;
  oauthSecretId: string;
  webhookSecretId: string;
  interactive: boolean;
  say: (line: string) => void;
}

/**
 * Creates the GitHub App (`helmgate setup github`, the App-manifest flow). Until it is wired in, the
 * default prints the command to run and creates nothing.
 */
export type CreateGithubApp = (
  ctx: CreateGithubAppContext,
) => Promise<{ created: boolean; command?: string }>;

export const printSetupGithubCommand: CreateGithubApp = async (ctx) => ({
  created: false,
  command: setupGithubCommandLine(ctx),
});

/** The `helmgate setup github` command line for this stage (before the first deploy: after it). */
export function setupGithubCommandLine(
  ctx: Pick<CreateGithubAppContext, 'stage' | 'region' | 'publicUrl' | 'appSecretId'> &
    Partial<Pick<CreateGithubAppContext, 'oauthSecretId'>>,
): string {
  const base = `AWS_REGION=${ctx.region} npx helmgate setup github --stage ${ctx.stage}`;
  const secret =
    (ctx.appSecretId === 'helmgate/github-app' ? '' : ` --secret-id ${ctx.appSecretId}`) +
    (ctx.oauthSecretId === undefined || ctx.oauthSecretId === 'helmgate/github-oauth'
      ? ''
      : ` --login-secret-id ${ctx.oauthSecretId}`);
  return ctx.publicUrl
    ? `${base} --public-url ${ctx.publicUrl}${secret}`
    : `after osls deploy: ${base} --public-url <the stack's API URL>${secret}`;
}

export type ItemStatus =
  /** right as it is */
  | 'ok'
  /** bootstrap created it now */
  | 'created'
  /** bootstrap corrected it now */
  | 'fixed'
  /** a new value, as `--rotate` asked */
  | 'rotated'
  /** needed, absent, and only a person (or a later step) can supply it */
  | 'missing'
  /** exists but is unusable; bootstrap does not overwrite it */
  | 'invalid'
  /** waits for another step (osls deploy, helmgate setup github) */
  | 'pending'
  /** optional and not set up */
  | 'optional'
  /** worth knowing, changes nothing */
  | 'note';

export interface BootstrapItem {
  /** `secret helmgate/slack`, `policy`, `GitHub App`, `webhook` */
  item: string;
  status: ItemStatus;
  /** what it is or what was found (never a value) */
  detail: string;
  /** what to do about it */
  fix?: string;
}

export interface BootstrapReport {
  stage: string;
  publicUrl: string | undefined;
  items: BootstrapItem[];
  /** how many writes this run made (secrets created or filled, webhook configuration patched) */
  writes: number;
  /** something required is missing, invalid or pending */
  incomplete: boolean;
}

export interface BootstrapDeps {
  stage: string;
  region: string;
  ids: StageSecretIds;
  /** the stage's API URL: `--url`, else what the deployed stack says; undefined before the first deploy */
  publicUrl: string | undefined;
  /** whether the stage's stack exists (its functions were found) */
  deployed: boolean;
  /** the policy file's text and name (packaged with the stack by `osls deploy`) */
  policyFile: { name: string; text: string | undefined };
  /** the stage's approvers parameter (HELMGATE_APPROVERS), merged into the policy by the stack */
  mergeApprovers?: (policy: Policy) => Policy;
  /** the digest of the policy the deployed stack runs, when deployed */
  deployedPolicyDigest?: string;
  policyDigest: (p: Policy) => string;
  secrets: SecretsAdmin;
  random: Random;
  /** undefined = non-interactive */
  prompter: Prompter | undefined;
  /** registers a value with the redactor before it can reach any output */
  remember: (value: string) => void;
  /** the repositories the stage accepts (its `repositories` parameter): the App must be installed on each */
  repositories: readonly string[];
  /** GitHub's web URL (the App's install page) */
  githubWebUrl: string;
  /** secrets to give a new random value (`--rotate`): generated ones only */
  rotate?: readonly string[];
  /** the App's admin client from the App secret's text (parses it; errors name fields only) */
  githubApp: (appSecret: string) => GithubAppAdmin;
  createGithubApp: CreateGithubApp;
  /** a hint for the person at the terminal (stderr), e.g. before a prompt */
  say: (line: string) => void;
}

const BLOCKING: ReadonlySet<ItemStatus> = new Set(['missing', 'invalid', 'pending']);

/**
 * What helmgate does with the App: read the repository (deploy.yaml, tarballs), write Deployments and
 * their statuses, write commit statuses (drift, `helmgate/drift/<env>`), receive pushes. `write`
 * includes `read`. The manifest `setup github` posts asks for exactly these.
 */
export const APP_NEEDS = {
  permissions: { contents: 'read', deployments: 'write', statuses: 'write', metadata: 'read' } as Record<
    string,
    'read' | 'write'
  >,
  events: ['push'],
};

/** The App's permissions and events that fall short of APP_NEEDS, as `deployments: write` / `event push`. */
export function appShortfall(app: { permissions: Record<string, string>; events: string[] }): string[] {
  const rank = (v: string | undefined) => (v === 'write' || v === 'admin' ? 2 : v === 'read' ? 1 : 0);
  return [
    ...Object.entries(APP_NEEDS.permissions)
      .filter(([k, need]) => rank(app.permissions[k]) < rank(need))
      .map(([k, need]) => `${k}: ${need}`),
    ...APP_NEEDS.events.filter((e) => !app.events.includes(e)).map((e) => `event ${e}`),
  ];
}

/** Only values nobody needs to know can be rotated here; the others are a person's to replace. */
export function rotatable(ids: StageSecretIds): string[] {
  return stageSecretSpecs(ids, undefined)
    .filter((s) => s.source.kind === 'generated')
    .map((s) => s.id);
}

/** The reason of a failed call, without anything a value could hide in. */
function reasonOf(e: unknown): string {
  if (e instanceof HelmgateError) return e.message;
  const status = (e as { status?: unknown }).status;
  if (typeof status === 'number') return `HTTP ${status}`;
  return (e as { name?: string }).name ?? 'error';
}

/** Runs every check in order; returns what it found and did. */
export async function bootstrap(deps: BootstrapDeps): Promise<BootstrapReport> {
  const items: BootstrapItem[] = [];
  let writes = 0;
  const add = (i: BootstrapItem) => {
    items.push(i);
  };

  const unknown = (deps.rotate ?? []).filter((r) => !rotatable(deps.ids).includes(r));
  if (unknown.length > 0)
    throw new HelmgateError(
      'bad_request',
      `--rotate: ${unknown.join(', ')} cannot be rotated by bootstrap (it rotates ${rotatable(deps.ids).join(', ')}; replace the others with aws secretsmanager put-secret-value)`,
    );

  // ── the stage ────────────────────────────────────────────────────────────────────────────
  if (deps.publicUrl)
    add({ item: 'stage', status: 'ok', detail: `${deps.stage} in ${deps.region}, API ${deps.publicUrl}` });
  else
    add({
      item: 'stage',
      status: 'pending',
      detail: `${deps.stage} is not deployed in ${deps.region} yet, so its API URL is unknown`,
      fix: `npx osls deploy --stage ${deps.stage} --region ${deps.region} … (README), then run bootstrap again; or give --url for a custom domain`,
    });

  // ── the policy ───────────────────────────────────────────────────────────────────────────
  const policy = checkPolicy(deps, add);

  // ── helmgate's secrets and the clusters' ────────────────────────────────────────────────
  const specs = stageSecretSpecs(deps.ids, policy);
  const values = new Map<string, string>();
  const createdNow = new Set<string>();
  const appSecret = await deps.secrets.inspect(deps.ids.githubApp);
  if (appSecret.state === 'present') rememberAppSecret(deps, appSecret.value);
  const facts = appSecret.state === 'present' ? appSecretFacts(appSecret.value) : undefined;
  // the login secret is always needed (the login function reads nothing else): `helmgate setup
  // github` fills it with the App's client id and secret, so while there is no App it is checked after
  // the App's step
  let loginAfterApp = false;
  for (const spec of specs) {
    // what the App secret carries needs no secret of its own (one may still exist: it stays accepted)
    if (spec.id === deps.ids.webhook && facts?.webhookSecret !== undefined) {
      const found = await deps.secrets.inspect(spec.id);
      if (found.state === 'present') {
        deps.remember(found.value);
        values.set(spec.id, found.value);
      }
      const problem = found.state === 'present' ? spec.validate?.(found.value) : undefined;
      add(
        problem
          ? { item: `secret ${spec.id}`, status: 'invalid', detail: problem, fix: rotateHint(spec.id) }
          : {
              item: `secret ${spec.id}`,
              status: 'ok',
              detail:
                found.state === 'present'
                  ? spec.purpose
                  : "not needed: the App secret's webhookSecret signs the App's deliveries",
            },
      );
      continue;
    }
    if (spec.id === deps.ids.oauth) {
      if (appSecret.state !== 'present' && (await deps.secrets.inspect(spec.id)).state !== 'present') {
        loginAfterApp = true;
        continue;
      }
      const r = await ensureLoginSecret(deps, spec, appSecret, values);
      if (r.wrote) writes++;
      for (const i of r.items) add(i);
      continue;
    }
    const r = await ensureSecret(deps, spec, values);
    if (r.wrote) writes++;
    // a value created now, or a rotation that takes effect now, is the one GitHub must sign with
    if (r.wrote && r.inEffect !== false) createdNow.add(spec.id);
    add(r.item);
  }

  // ── the GitHub App and its webhook ───────────────────────────────────────────────────────
  writes += await checkGithubApp(deps, appSecret, values, createdNow, add);
  if (loginAfterApp) {
    const spec = specs.find((s) => s.id === deps.ids.oauth) as SecretSpec;
    const appNow = await deps.secrets.inspect(deps.ids.githubApp);
    const loginNow = await deps.secrets.inspect(deps.ids.oauth);
    if (appNow.state !== 'present' && loginNow.state !== 'present' && items.some(isAppPending))
      add({
        item: `secret ${spec.id}`,
        status: 'pending',
        detail: `${spec.purpose}: helmgate setup github stores the App's client id and secret here`,
        fix: setupGithubCommandLine({
          stage: deps.stage,
          region: deps.region,
          publicUrl: deps.publicUrl,
          appSecretId: deps.ids.githubApp,
          oauthSecretId: deps.ids.oauth,
        }),
      });
    else {
      // the App was made now (setup github filled it), or the token fallback logs in with an OAuth app
      const r = await ensureLoginSecret(deps, spec, appNow, values);
      if (r.wrote) writes++;
      for (const i of r.items) add(i);
    }
  }

  const incomplete = items.some((i) => BLOCKING.has(i.status));
  return { stage: deps.stage, publicUrl: deps.publicUrl, items, writes, incomplete };
}

const isAppPending = (i: BootstrapItem) => i.item === 'GitHub App' && i.status === 'pending';

/**
 * The login secret (the only one the login function reads): present → checked; absent while an older
 * App secret still carries `clientId`/`clientSecret` (before they moved to the login secret) → those
 * two copied into it (the App secret is left as it is); else asked for (the App's or an OAuth app's
 * client) or reported missing.
 */
async function ensureLoginSecret(
  deps: BootstrapDeps,
  spec: SecretSpec,
  appSecret: Awaited<ReturnType<SecretsAdmin['inspect']>>,
  values: Map<string, string>,
): Promise<{ items: BootstrapItem[]; wrote: boolean }> {
  const label = `secret ${spec.id}`;
  const found = await deps.secrets.inspect(spec.id);
  const legacy = appSecret.state === 'present' ? legacyAppClient(appSecret.value) : undefined;
  const stale: BootstrapItem[] = legacy
    ? [
        {
          item: `secret ${deps.ids.githubApp}`,
          status: 'note',
          detail: `still carries clientId and clientSecret, which nothing reads any more (the login reads ${spec.id})`,
          fix: `remove the two fields from ${deps.ids.githubApp} when convenient (aws secretsmanager put-secret-value)`,
        },
      ]
    : [];
  if (found.state !== 'present' && legacy) {
    const value = JSON.stringify({
      client_id: legacy.clientId,
      client_secret: legacy.clientSecret,
      kind: 'github-app',
    });
    deps.remember(legacy.clientSecret);
    deps.remember(value);
    if (found.state === 'valueless') await deps.secrets.putValue(spec.id, value);
    else await deps.secrets.create(spec.id, value, `helmgate ${deps.stage}: ${spec.purpose}`);
    values.set(spec.id, value);
    return {
      items: [
        {
          item: label,
          status: 'created',
          detail: `${spec.purpose}: the App's client id and secret, copied from ${deps.ids.githubApp} (the login function no longer reads that secret)`,
        },
        ...stale,
      ],
      wrote: true,
    };
  }
  const r = await ensureSecret(deps, spec, values);
  return { items: [r.item, ...stale], wrote: r.wrote };
}

/** An older App secret's client id and secret (before they moved to the login secret). */
function legacyAppClient(text: string): { clientId: string; clientSecret: string } | undefined {
  try {
    const doc = JSON.parse(text) as Record<string, unknown>;
    return typeof doc.clientId === 'string' &&
      doc.clientId &&
      typeof doc.clientSecret === 'string' &&
      doc.clientSecret
      ? { clientId: doc.clientId, clientSecret: doc.clientSecret }
      : undefined;
  } catch {
    return undefined;
  }
}

/** What an App secret carries besides its key (lib/github/app-auth.ts): each may replace a secret of its own. */
export interface AppSecretFacts {
  installationId?: number;
  /** the App's webhook secret: `helmgate/github-webhook` is then not needed */
  webhookSecret?: string;
}

export function appSecretFacts(text: string): AppSecretFacts {
  try {
    const doc = JSON.parse(text) as Record<string, unknown>;
    const id = Number(doc.installationId);
    return {
      ...(Number.isInteger(id) && id > 0 ? { installationId: id } : {}),
      ...(typeof doc.webhookSecret === 'string' && doc.webhookSecret
        ? { webhookSecret: doc.webhookSecret }
        : {}),
    };
  } catch {
    return {};
  }
}

/**
 * The App secret's private key is what must never show; its appId and installationId are not secret,
 * and registering them would mask every run of those digits in the output (a commit SHA's, say).
 */
function rememberAppSecret(deps: Pick<BootstrapDeps, 'remember'>, text: string): void {
  try {
    const doc = JSON.parse(text) as { privateKey?: unknown; clientSecret?: unknown; webhookSecret?: unknown };
    if (typeof doc.privateKey === 'string' && doc.privateKey.length > 0) {
      deps.remember(doc.privateKey);
      deps.remember(doc.privateKey.replace(/\\n/g, '\n'));
      for (const k of ['clientSecret', 'webhookSecret'] as const) {
        const v = (doc as Record<string, unknown>)[k];
        if (typeof v === 'string' && v) deps.remember(v);
      }
      return;
    }
  } catch {
    // not JSON: the whole text is treated as the secret
  }
  deps.remember(text);
}

function rotateHint(id: string): string {
  return `replace it yourself (bootstrap never overwrites a value): aws secretsmanager put-secret-value --secret-id ${id} --secret-string file://<file>`;
}

function checkPolicy(deps: BootstrapDeps, add: (i: BootstrapItem) => void): Policy | undefined {
  const { name, text } = deps.policyFile;
  if (text === undefined) {
    add({
      item: 'policy',
      status: 'missing',
      detail: `${name} does not exist`,
      fix: `write the operator policy (docs/policy.md): ${name} is packaged with the stack`,
    });
    return undefined;
  }
  let policy: Policy;
  try {
    policy = parsePolicy(text, name);
  } catch (e) {
    add({ item: 'policy', status: 'invalid', detail: reasonOf(e), fix: `fix ${name} (docs/policy.md)` });
    return undefined;
  }
  const effective = deps.mergeApprovers ? deps.mergeApprovers(policy) : policy;
  const envs: string[] = [];
  const nobody: BootstrapItem[] = [];
  for (const [repository, rp] of Object.entries(effective.repositories))
    for (const [environment, env] of Object.entries(rp.environments)) {
      envs.push(repository === '*' ? environment : `${repository} ${environment}`);
      const a = env.approvers;
      if (
        env.approval === 'required' &&
        a.github.length + a.githubTeams.length + a.slack.length + a.cli.length === 0
      )
        nobody.push({
          item: `policy ${repository === '*' ? '' : `${repository} `}${environment}`,
          status: 'missing',
          detail: 'approval is required and nobody may approve',
          fix: `add GitHub logins under approvers.github in ${name} (or the approvers stage parameter)`,
        });
    }
  const clusters = policyClusterSecrets(policy);
  const eks = policyEksClusters(policy);
  add({
    item: 'policy',
    status: 'ok',
    detail: `${name}: ${envs.join(', ')}; cluster secrets ${[...clusters.keys()].join(', ') || 'none'}${eks.length ? `; EKS ${eks.map((e) => e.label).join(', ')}` : ''}`,
  });
  for (const i of nobody) add(i);
  for (const e of eks)
    add({
      item: `EKS ${e.label}`,
      status: 'note',
      detail: `${e.environment} reaches it through IAM: the cluster needs an access entry for the environment's role (not checked here)`,
      fix: 'aws eks create-access-entry … (docs/operations.md)',
    });
  if (deps.deployedPolicyDigest !== undefined && deps.deployedPolicyDigest !== deps.policyDigest(effective))
    add({
      item: 'policy',
      status: 'note',
      detail: `the deployed stage runs another policy than ${name}`,
      fix: `npx osls deploy --stage ${deps.stage} packages this one`,
    });
  return policy;
}

async function askFields(
  prompter: Prompter,
  spec: SecretSpec & { source: { kind: 'person' } },
  remember: (v: string) => void,
): Promise<string | undefined> {
  const answers: Record<string, string> = {};
  for (const f of spec.source.fields) {
    const v = (
      await prompter.ask(`${f.label}${f.hidden ? ' (not echoed)' : ''}: `, { hidden: f.hidden })
    ).trim();
    if (v === '') return undefined;
    if (f.hidden) remember(v);
    answers[f.key] = v;
  }
  const value = spec.source.build(answers);
  remember(value);
  return value;
}

/** One secret: present and valid → ok; absent → generated, derived, asked for, or reported. */
async function ensureSecret(
  deps: BootstrapDeps,
  spec: SecretSpec,
  values: Map<string, string>,
): Promise<{ item: BootstrapItem; wrote: boolean; inEffect?: boolean }> {
  const label = `secret ${spec.id}`;
  const found = await deps.secrets.inspect(spec.id);
  if (found.state === 'present' && deps.rotate?.includes(spec.id) && spec.source.kind === 'generated') {
    deps.remember(found.value);
    const fresh = spec.source.generate(deps.random);
    deps.remember(fresh);
    const r = spec.source.rotate?.(found.value, fresh) ?? {
      value: fresh,
      detail: 'a new random value; the previous one is no longer valid',
      inEffect: true,
    };
    deps.remember(r.value);
    await deps.secrets.putValue(spec.id, r.value);
    values.set(spec.id, r.value);
    return {
      item: { item: label, status: 'rotated', detail: `${spec.purpose}: ${r.detail}` },
      wrote: true,
      inEffect: r.inEffect,
    };
  }
  if (found.state === 'present') {
    deps.remember(found.value);
    values.set(spec.id, found.value);
    const problem = spec.validate?.(found.value);
    return {
      item: problem
        ? { item: label, status: 'invalid', detail: `${spec.purpose}: ${problem}`, fix: rotateHint(spec.id) }
        : { item: label, status: 'ok', detail: spec.purpose },
      wrote: false,
    };
  }
  const write = async (value: string): Promise<void> => {
    if (found.state === 'valueless') await deps.secrets.putValue(spec.id, value);
    else await deps.secrets.create(spec.id, value, `helmgate ${deps.stage}: ${spec.purpose}`);
    values.set(spec.id, value);
  };
  const verb = found.state === 'valueless' ? 'given its first value' : 'created';
  const src = spec.source;
  switch (src.kind) {
    case 'generated': {
      const value = src.generate(deps.random);
      deps.remember(value);
      await write(value);
      return {
        item: { item: label, status: 'created', detail: `${spec.purpose}: random, ${verb}` },
        wrote: true,
      };
    }
    case 'stack':
      return {
        item: {
          item: label,
          status: deps.deployed ? 'missing' : 'pending',
          detail: `${spec.purpose}: created by the stack`,
          fix: `npx osls deploy --stage ${deps.stage} (a CloudFormation resource: bootstrap does not create it)`,
        },
        wrote: false,
      };
    case 'derived': {
      const from = values.get(src.from);
      const value = from === undefined ? undefined : src.derive(from);
      if (value === undefined)
        return {
          item: {
            item: label,
            status: spec.optional ? 'optional' : 'missing',
            detail: `${spec.purpose}: made from ${src.from}, which is not set up`,
          },
          wrote: false,
        };
      deps.remember(value);
      await write(value);
      return {
        item: { item: label, status: 'created', detail: `${spec.purpose}: from ${src.from}, ${verb}` },
        wrote: true,
      };
    }
    case 'person': {
      let value: string | undefined;
      if (deps.prompter) {
        const go = spec.optional
          ? /^y(es)?$/i.test(
              (await deps.prompter.ask(`${spec.purpose}: set it up now? [y/N] `, { hidden: false })).trim(),
            )
          : true;
        if (go) {
          deps.say(`${spec.id}: ${src.hint}`);
          value = await askFields(
            deps.prompter,
            spec as SecretSpec & { source: { kind: 'person' } },
            deps.remember,
          );
          const problem = value === undefined ? undefined : spec.validate?.(value);
          if (problem) {
            return {
              item: {
                item: label,
                status: spec.optional ? 'optional' : 'missing',
                detail: `${spec.purpose}: what was typed is not usable (${problem}); nothing stored`,
                fix: 'run bootstrap again',
              },
              wrote: false,
            };
          }
        }
      }
      if (value === undefined)
        return {
          item: {
            item: label,
            status: spec.optional ? 'optional' : 'missing',
            detail: `${spec.purpose}: needs a person`,
            fix: `${src.hint}; then run bootstrap on a terminal (it asks, without echo)`,
          },
          wrote: false,
        };
      await write(value);
      return {
        item: { item: label, status: 'created', detail: `${spec.purpose}: as typed, ${verb}` },
        wrote: true,
      };
    }
  }
}

/** The App: its credentials work, its installation exists, its webhook points at this stage. */
async function checkGithubApp(
  deps: BootstrapDeps,
  appSecret: Awaited<ReturnType<SecretsAdmin['inspect']>>,
  values: Map<string, string>,
  createdNow: Set<string>,
  add: (i: BootstrapItem) => void,
): Promise<number> {
  const id = deps.ids.githubApp;
  let secret = appSecret;
  if (secret.state !== 'present') {
    const token = await deps.secrets.inspect(deps.ids.githubToken);
    if (token.state === 'present') {
      deps.remember(token.value);
      add({
        item: 'GitHub App',
        status: 'note',
        detail: `none (${id}); the token fallback ${deps.ids.githubToken} is used, with a repository webhook set by hand (docs/operations.md)`,
        fix: `npx helmgate setup github --stage ${deps.stage} replaces it with an App`,
      });
      return 0;
    }
    const result = await deps.createGithubApp({
      stage: deps.stage,
      region: deps.region,
      publicUrl: deps.publicUrl,
      appSecretId: id,
      oauthSecretId: deps.ids.oauth,
      webhookSecretId: deps.ids.webhook,
      interactive: deps.prompter !== undefined,
      say: deps.say,
    });
    if (result.created) secret = await deps.secrets.inspect(id);
    if (secret.state !== 'present') {
      add({
        item: 'GitHub App',
        status: 'pending',
        detail: `${id} does not exist: the App receives the pushes, reads the repository and logs approvers in`,
        fix:
          result.command ??
          setupGithubCommandLine({
            stage: deps.stage,
            region: deps.region,
            publicUrl: deps.publicUrl,
            appSecretId: id,
            oauthSecretId: deps.ids.oauth,
          }),
      });
      return 0;
    }
    rememberAppSecret(deps, secret.value);
  }
  let admin: GithubAppAdmin;
  let app: Awaited<ReturnType<GithubAppAdmin['app']>>;
  try {
    admin = deps.githubApp(secret.value);
    app = await admin.app();
  } catch (e) {
    add({
      item: 'GitHub App',
      status: 'invalid',
      detail: `${id}: GitHub refused the App's credentials (${reasonOf(e)})`,
      fix: rotateHint(id),
    });
    return 0;
  }
  const short = appShortfall(app);
  if (short.length > 0) {
    add({
      item: 'GitHub App',
      status: 'invalid',
      detail: `App ${app.slug} (App ${app.id}) lacks ${short.join(', ')}`,
      fix: 'GitHub → Settings → Developer settings → GitHub Apps → the App → Permissions & events (then accept the new permissions on the installation)',
    });
    return 0;
  }
  // the installation of every repository the stage accepts, as the runtime finds it (GET
  // /repos/{owner}/{repo}/installation as the App), then one token exchange
  const facts = appSecretFacts(secret.value);
  const installUrl = `${deps.githubWebUrl.replace(/\/+$/, '')}/apps/${app.slug}/installations/new`;
  let installation: number | undefined = facts.installationId;
  let uninstalled = 0;
  for (const repository of deps.repositories) {
    let found: { id: number } | undefined;
    try {
      found = await admin.installationFor(repository);
    } catch (e) {
      add({
        item: `GitHub App on ${repository}`,
        status: 'invalid',
        detail: `GET /repos/${repository}/installation failed (${reasonOf(e)})`,
      });
      uninstalled++;
      continue;
    }
    if (!found) {
      add({
        item: `GitHub App on ${repository}`,
        status: 'missing',
        detail: `App ${app.slug} is not installed on ${repository}: its pushes are refused`,
        fix: `install it: ${installUrl}`,
      });
      uninstalled++;
    } else if (facts.installationId !== undefined && found.id !== facts.installationId) {
      add({
        item: `GitHub App on ${repository}`,
        status: 'invalid',
        detail: `served by installation ${found.id}, but ${id} pins installation ${facts.installationId}`,
        fix: `drop installationId from ${id} (the App finds each repository's installation), or install the App there through that installation`,
      });
      uninstalled++;
    } else installation ??= found.id;
  }
  if (installation === undefined) {
    if (uninstalled === 0)
      add({
        item: 'GitHub App',
        status: 'note',
        detail: `App ${app.slug} (App ${app.id}): the stage's repositories are unknown here, so its installations are not checked`,
        fix: 'give --repository owner/name, or deploy the stage (its repositories parameter)',
      });
    else return 0;
  } else {
    try {
      await admin.installationToken(installation);
    } catch (e) {
      add({
        item: 'GitHub App',
        status: 'invalid',
        detail: `App ${app.slug}: no token for installation ${installation} (${reasonOf(e)})`,
        fix: `check the App's private key in ${id}, and that the App is installed: ${installUrl}`,
      });
      return 0;
    }
    if (uninstalled > 0) return 0;
    add({
      item: 'GitHub App',
      status: 'ok',
      detail: `${app.slug} (App ${app.id}): credentials and installation work${deps.repositories.length ? ` (${deps.repositories.join(', ')})` : ''}`,
    });
  }
  if (!deps.publicUrl) {
    add({
      item: 'webhook',
      status: 'pending',
      detail: "the App's webhook URL is checked once the stage's API URL is known",
      fix: `after osls deploy: npx helmgate bootstrap --stage ${deps.stage}`,
    });
    return 0;
  }
  const want = `${deps.publicUrl.replace(/\/+$/, '')}/webhook`;
  const webhookValue = values.get(deps.ids.webhook);
  let hook: Awaited<ReturnType<GithubAppAdmin['hookConfig']>>;
  try {
    hook = await admin.hookConfig();
  } catch (e) {
    add({ item: 'webhook', status: 'invalid', detail: `GET /app/hook/config failed (${reasonOf(e)})` });
    return 0;
  }
  const patch: { url?: string; contentType?: 'json'; secret?: string } = {};
  const changes: string[] = [];
  if (hook.url !== want) {
    patch.url = want;
    // what GitHub holds is shown as text, never as terminal control characters
    changes.push(`URL ${hook.url.replace(/[^\x20-\x7e]/g, '?') || '(none)'} → ${want}`);
  }
  if (hook.contentType !== 'json') {
    patch.contentType = 'json';
    changes.push('content type → json');
  }
  // GitHub never shows the secret: set it when none is set, or when this run made ours the one to use.
  // An App secret with its own webhookSecret (setup github) keeps GitHub signing with that one.
  if (facts.webhookSecret !== undefined) {
    if (!hook.hasSecret) {
      patch.secret = facts.webhookSecret;
      changes.push(`secret → the App's webhookSecret (${id})`);
    }
  } else if (webhookValue !== undefined && (!hook.hasSecret || createdNow.has(deps.ids.webhook))) {
    patch.secret = currentWebhookSecret(webhookValue);
    changes.push(`secret → ${deps.ids.webhook}`);
  }
  if (changes.length === 0) {
    add({
      item: 'webhook',
      status: 'ok',
      detail: `${want}, JSON, secret set (GitHub does not show it: a mismatch shows as 401s on the App's Advanced page)`,
    });
    return 0;
  }
  try {
    await admin.updateHookConfig(patch);
  } catch (e) {
    add({ item: 'webhook', status: 'invalid', detail: `PATCH /app/hook/config failed (${reasonOf(e)})` });
    return 0;
  }
  add({ item: 'webhook', status: 'fixed', detail: changes.join('; ') });
  return 1;
}
