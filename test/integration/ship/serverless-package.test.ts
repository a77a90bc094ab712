import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { parse as parseYaml } from 'yaml';
import { AppConfig } from '../../../lib/config/env';
import { TABLE_DEFINITION } from '../../../lib/store/dynamodb-deployment-store';
import { startDynalite } from '../../helpers/dynalite';

// `osls package --stage ci` with no AWS credentials and no network, then a look at the CloudFormation
// template it generates: what AWS would really create.
const root = path.resolve(__dirname, '../../..');
const osls = path.join(root, 'node_modules/osls/bin/serverless.js');
const tmp = path.join(root, '.tmp');

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Properties: Json;
  DependsOn?: string[];
}
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

function packageService(
  stage: string,
  extraArgs: string[] = [],
): Promise<{ code: number; out: string; dir: string }> {
  mkdirSync(tmp, { recursive: true });
  const dir = path.join(tmp, `sls-${randomUUID()}`);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: tmp,
    // dummies: packaging must never need real credentials
    AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    AWS_EC2_METADATA_DISABLED: 'true',
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
  };
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [osls, 'package', '--stage', stage, '--package', dir, ...extraArgs],
      { cwd: root, env, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, out: `${stdout}\n${stderr}`, dir });
      },
    );
  });
}

let template: { Resources: Record<string, Resource>; Conditions?: Json };
let packageDir: string;

beforeAll(async () => {
  const result = await packageService('ci');
  packageDir = result.dir;
  if (result.code !== 0) throw new Error(`osls package failed (${result.code}):\n${result.out}`);
  template = JSON.parse(
    readFileSync(path.join(packageDir, 'cloudformation-template-update-stack.json'), 'utf8'),
  );
}, 150_000);

afterAll(() => {
  if (packageDir) rmSync(packageDir, { recursive: true, force: true });
});

const resources = () => template.Resources;
const ofType = (type: string) => Object.entries(resources()).filter(([, r]) => r.Type === type);
const fn = (logicalId: string) => {
  const r = resources()[logicalId];
  if (r?.Type !== 'AWS::Lambda::Function') throw new Error(`no function ${logicalId}`);
  return r;
};
/** `{Ref: X}`, `{Fn::GetAtt: [X, …]}`, `{Fn::Sub: "…${X.Arn}…"}` → the logical ids they name. */
function refs(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return [];
  const v = value as Json;
  if (typeof v.Ref === 'string') return [v.Ref];
  if (Array.isArray(v['Fn::GetAtt'])) return [String(v['Fn::GetAtt'][0])];
  return Object.values(v).flatMap(refs);
}
/** A resource as text: a literal ARN, or a Fn::Sub template, or GetAtt:<logical id>. */
function resourceTexts(resource: unknown): string[] {
  if (Array.isArray(resource)) return resource.flatMap(resourceTexts);
  if (typeof resource === 'string') return [resource];
  const r = resource as Json;
  if (typeof r['Fn::Sub'] === 'string') return [r['Fn::Sub']];
  if (Array.isArray(r['Fn::GetAtt'])) return [`GetAtt:${(r['Fn::GetAtt'] as string[]).join('.')}`];
  throw new Error(`unexpected resource form ${JSON.stringify(resource)}`);
}
function statementsOf(functionId: string): Statement[] {
  const [roleId] = refs(fn(functionId).Properties.Role);
  const role = resources()[roleId as string];
  if (role?.Type !== 'AWS::IAM::Role') throw new Error(`${functionId} has no role of its own`);
  expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  return (role.Properties.Policies as Array<{ PolicyDocument: { Statement: Statement[] } }>).flatMap(
    (p) => p.PolicyDocument.Statement,
  );
}
const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
/** Every resource text the function's role allows `action` on. */
function allowed(functionId: string, action: string): string[] {
  return statementsOf(functionId)
    .filter((s) => s.Effect === 'Allow' && actions(s).includes(action))
    .flatMap((s) => resourceTexts(s.Resource));
}
const secretArn = (name: string) =>
  `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${name}`;
const functionArn = (name: string) =>
  `arn:\${AWS::Partition}:lambda:\${AWS::Region}:\${AWS::AccountId}:function:${name}`;

const FUNCTIONS = [
  'WebhookLambdaFunction',
  'DeploymentsLambdaFunction',
  'ApprovalLambdaFunction',
  'AuthLambdaFunction',
  'SlackInteractionsLambdaFunction',
  'SweeperLambdaFunction',
  'DeployRunnerLambdaFunction',
];

describe('osls package (offline, dummy credentials)', () => {
  it('declares the framework version of the osls that runs it (the pinned devDependency)', () => {
    const declared = /^frameworkVersion: "([^"]+)"$/m.exec(
      readFileSync(path.join(root, 'serverless.yml'), 'utf8'),
    )?.[1];
    const pinned = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).devDependencies.osls;
    const installed = JSON.parse(
      readFileSync(path.join(root, 'node_modules/osls/package.json'), 'utf8'),
    ).version;
    expect(declared).toBe(pinned);
    expect(installed).toBe(pinned);
  });

  it('refuses a stage that sets neither the repositories nor the runner image', async () => {
    const result = await packageService('nowhere');
    expect(result.code).not.toBe(0);
    expect(result.out).toContain('provider.environment.HELMGATE_REPOSITORIES');
    expect(result.out).toContain('functions.deployRunner.image');
  });

  it('serves every HTTP route from the handler meant for it', () => {
    const integrations = new Map(
      ofType('AWS::ApiGatewayV2::Integration').map(([id, r]) => [id, refs(r.Properties.IntegrationUri)[0]]),
    );
    const routes = Object.fromEntries(
      ofType('AWS::ApiGatewayV2::Route').map(([, r]) => {
        const integration = refs(r.Properties.Target)[0] as string;
        const functionId = integrations.get(integration) as string;
        return [r.Properties.RouteKey as string, fn(functionId).Properties.Handler];
      }),
    );
    expect(routes).toEqual({
      'POST /webhook': 'handlers/github-webhook.handler',
      'GET /': 'handlers/dashboard.handler',
      'GET /deployments': 'handlers/dashboard.handler',
      'GET /deployments/{id}': 'handlers/dashboard.handler',
      'GET /metrics': 'handlers/dashboard.handler',
      'GET /assets/helmgate.css': 'handlers/dashboard.handler',
      'GET /approvals/{id}': 'handlers/approval.handler',
      'POST /approvals/{id}/approve': 'handlers/approval.handler',
      'POST /approvals/{id}/reject': 'handlers/approval.handler',
      'POST /deployments/{id}/retry': 'handlers/approval.handler',
      'POST /deployments/{id}/override': 'handlers/approval.handler',
      'GET /auth/github/login': 'handlers/auth.handler',
      'GET /auth/github/callback': 'handlers/auth.handler',
      'POST /auth/logout': 'handlers/auth.handler',
      'POST /slack/interactions': 'handlers/slack-interactions.handler',
    });
    const [, api] = ofType('AWS::ApiGatewayV2::Api')[0] ?? [];
    expect(api?.Properties.ProtocolType).toBe('HTTP');
  });

  it('runs the sweeper every five minutes', () => {
    const rules = ofType('AWS::Events::Rule').map(([, r]) => ({
      schedule: r.Properties.ScheduleExpression,
      targets: (r.Properties.Targets as Array<{ Arn: unknown }>).flatMap((t) => refs(t.Arn)),
    }));
    expect(rules).toEqual([{ schedule: 'rate(5 minutes)', targets: ['SweeperLambdaFunction'] }]);
  });

  it('runs the deploy runner from a container image pinned by digest, x86_64 like its helm, for 900 s', () => {
    const runner = fn('DeployRunnerLambdaFunction').Properties;
    expect(runner.PackageType).toBe('Image');
    expect((runner.Code as Json).ImageUri).toMatch(
      /^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com\/[\w-]+@sha256:[0-9a-f]{64}$/,
    );
    expect(runner.Timeout).toBe(900);
    expect(runner.Architectures).toEqual(['x86_64']);
    // ELF e_machine 0x3e = x86-64: the helm the image copies (see dockerfile.test.ts) runs on x86_64 only
    const helm = readFileSync(process.env.HELMGATE_HELM_BIN as string);
    expect(helm.readUInt16LE(18)).toBe(0x3e);
    // every other function is a JavaScript bundle
    for (const id of FUNCTIONS.filter((f) => f !== 'DeployRunnerLambdaFunction')) {
      expect(fn(id).Properties.Runtime).toBe('nodejs22.x');
      expect(fn(id).Properties.Handler).toMatch(/^handlers\/[a-z-]+\.handler$/);
    }
  });

  it('sets only environment variables helmgate reads (AppConfig) and the metrics settings', () => {
    const known = new Set([
      ...Object.keys(AppConfig.shape),
      'POWERTOOLS_SERVICE_NAME',
      'POWERTOOLS_METRICS_NAMESPACE',
    ]);
    for (const id of FUNCTIONS) {
      const vars = Object.keys((fn(id).Properties.Environment as { Variables: Json }).Variables);
      expect(vars.filter((v) => !known.has(v))).toEqual([]);
      expect(vars).toEqual(
        expect.arrayContaining(['HELMGATE_REPOSITORIES', 'HELMGATE_TABLE', 'HELMGATE_RUNNER_FUNCTION']),
      );
    }
    const runnerEnv = (fn('DeployRunnerLambdaFunction').Properties.Environment as { Variables: Json })
      .Variables;
    expect(runnerEnv.HELMGATE_RUNNER_FUNCTION).toBe(fn('DeployRunnerLambdaFunction').Properties.FunctionName);
    expect(refs(runnerEnv.HELMGATE_TABLE)).toEqual(['DeploymentsTable']);
  });

  it('keeps logs for a bounded time', () => {
    const groups = ofType('AWS::Logs::LogGroup');
    expect(groups).toHaveLength(FUNCTIONS.length);
    for (const [, g] of groups) expect(g.Properties.RetentionInDays).toBe(90);
  });
});

describe('the table', () => {
  const table = () => {
    const tables = ofType('AWS::DynamoDB::Table');
    expect(tables).toHaveLength(1);
    return (tables[0] as [string, Resource])[1].Properties;
  };

  it('has exactly the keys and indexes the store uses, on demand', () => {
    const t = table();
    const pick = (x: Json) => ({
      AttributeDefinitions: x.AttributeDefinitions,
      KeySchema: x.KeySchema,
      GlobalSecondaryIndexes: x.GlobalSecondaryIndexes,
      BillingMode: x.BillingMode,
    });
    expect(pick(t)).toEqual(pick(structuredClone(TABLE_DEFINITION) as unknown as Json));
  });

  it('has point-in-time recovery, encryption at rest and TTL on the attribute the store writes', async () => {
    const t = table();
    expect(t.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(t.SSESpecification).toEqual({ SSEEnabled: true });
    const ttl = t.TimeToLiveSpecification as { AttributeName: string; Enabled: boolean };
    expect(ttl.Enabled).toBe(true);
    // the store really writes that attribute, as epoch seconds (what DynamoDB TTL needs)
    const dynamo = await startDynalite('ttl-check');
    try {
      const at = new Date('2030-01-01T00:00:00Z');
      await dynamo.store.recordDelivery('delivery-ttl', at, 3600);
      const { Items } = await dynamo.client.send(new ScanCommand({ TableName: 'ttl-check' }));
      const item = (Items as Array<Record<string, { N?: string }>>).find((i) => ttl.AttributeName in i);
      expect(item?.[ttl.AttributeName]?.N).toBe(String(at.getTime() / 1000 + 3600));
    } finally {
      await dynamo.close();
    }
  });
});

describe('failed async invocations', () => {
  it('go to the dead-letter queue for the runner and the Slack worker, whose roles may send there', () => {
    const queues = ofType('AWS::SQS::Queue');
    expect(queues).toHaveLength(1);
    const [queueId, queue] = queues[0] as [string, Resource];
    expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    const configs = ofType('AWS::Lambda::EventInvokeConfig').map(([, r]) => ({
      fn: refs(r.Properties.FunctionName)[0],
      onFailure: refs(
        (r.Properties.DestinationConfig as { OnFailure: { Destination: unknown } }).OnFailure.Destination,
      ),
    }));
    expect(configs).toEqual(
      expect.arrayContaining([
        { fn: 'DeployRunnerLambdaFunction', onFailure: [queueId] },
        { fn: 'SlackInteractionsLambdaFunction', onFailure: [queueId] },
      ]),
    );
    for (const id of ['DeployRunnerLambdaFunction', 'SlackInteractionsLambdaFunction'])
      expect(allowed(id, 'sqs:SendMessage')).toEqual([`GetAtt:${queueId}.Arn`]);
  });

  it('raise an alarm as soon as the queue holds a message', () => {
    const [queueId] = ofType('AWS::SQS::Queue')[0] as [string, Resource];
    const alarm = ofType('AWS::CloudWatch::Alarm')
      .map(([, r]) => r.Properties)
      .find((a) => a.Namespace === 'AWS/SQS');
    expect(alarm).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(refs(alarm?.Dimensions)).toEqual([queueId]);
    expect(alarm?.AlarmActions).toEqual([expect.anything()]);
  });

  it('and a failed production deploy raises its own alarm', () => {
    const alarm = ofType('AWS::CloudWatch::Alarm')
      .map(([, r]) => r.Properties)
      .find((a) => a.Namespace === 'Helmgate');
    expect(alarm).toMatchObject({ MetricName: 'DeploymentFailed', Statistic: 'Sum', Threshold: 0 });
    expect(alarm?.Dimensions).toEqual(expect.arrayContaining([{ Name: 'environment', Value: 'production' }]));
  });
});

describe('IAM: a role per function, every statement scoped to named resources', () => {
  it('gives each function its own role and creates no shared default role', () => {
    const roles = FUNCTIONS.map((id) => refs(fn(id).Properties.Role)[0]);
    expect(new Set(roles).size).toBe(FUNCTIONS.length);
    expect(resources().IamRoleLambdaExecution).toBeUndefined();
  });

  it('never allows "*" as a resource or an action wildcard, and lets each function write only its own logs', () => {
    for (const id of FUNCTIONS) {
      for (const s of statementsOf(id)) {
        expect(s.Effect).toBe('Allow');
        for (const a of actions(s)) expect(a).not.toMatch(/\*/);
        for (const r of resourceTexts(s.Resource)) {
          expect(r).not.toBe('*');
          if (actions(s).some((a) => a.startsWith('secretsmanager:')))
            expect(r).toMatch(/:secret:[\w/+=.@-]+(\*|-\?{6})?$/);
          if (actions(s).some((a) => a.startsWith('dynamodb:')))
            expect(['GetAtt:DeploymentsTable.Arn', `\${DeploymentsTable.Arn}/index/*`]).toContain(r);
        }
      }
      const name =
        fn(id).Properties.FunctionName ??
        `helmgate-ci-${id.replace(/LambdaFunction$/, '').replace(/^./, (c) => c.toLowerCase())}`;
      expect(allowed(id, 'logs:PutLogEvents')).toEqual([
        `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/${name}:*`,
      ]);
    }
  });

  it('only the deploy runner may BatchGetItem (its one read of every release state), on the table alone', () => {
    for (const id of FUNCTIONS.filter((f) => f !== 'DeployRunnerLambdaFunction'))
      expect(allowed(id, 'dynamodb:BatchGetItem')).toEqual([]);
    expect(allowed('DeployRunnerLambdaFunction', 'dynamodb:BatchGetItem')).toEqual([
      'GetAtt:DeploymentsTable.Arn',
    ]);
  });

  it('the digest key is created by the stack, and only the deploy runner names it', () => {
    const key = template.Resources.DigestKeySecret;
    expect(key?.Type).toBe('AWS::SecretsManager::Secret');
    expect(key?.Properties.Name).toBe('helmgate/digest-key');
    expect(key?.Properties.GenerateSecretString).toMatchObject({ PasswordLength: 64 });
    for (const id of FUNCTIONS.filter((f) => f !== 'DeployRunnerLambdaFunction'))
      expect(allowed(id, 'secretsmanager:GetSecretValue')).not.toContain(secretArn('helmgate/digest-key'));
  });

  it('reads exactly the secrets each function needs', () => {
    const named = (...names: string[]) =>
      names.flatMap((n) => [secretArn(n), secretArn(`${n}-??????`)]).sort();
    const secrets = (id: string) => allowed(id, 'secretsmanager:GetSecretValue').sort();
    expect(secrets('WebhookLambdaFunction')).toEqual(
      named('helmgate/github-webhook', 'helmgate/github-token', 'helmgate/github-app', 'helmgate/slack'),
    );
    // reads need credentials (issue 11): API tokens, the session's signing key (API and dashboard), GitHub's permission API
    expect(secrets('DeploymentsLambdaFunction')).toEqual(
      named(
        'helmgate/api-tokens',
        'helmgate/approval-signing-key',
        'helmgate/github-token',
        'helmgate/github-app',
      ),
    );
    expect(secrets('ApprovalLambdaFunction')).toEqual(
      named(
        'helmgate/approval-signing-key',
        'helmgate/slack',
        'helmgate/github-token',
        'helmgate/github-app',
      ),
    );
    // the login: only the login secret (the App's client id and secret, or an OAuth app's), never
    // the App secret, whose private key mints installation tokens (issue 15)
    expect(secrets('AuthLambdaFunction')).toEqual(
      named('helmgate/github-oauth', 'helmgate/approval-signing-key'),
    );
    expect(secrets('SlackInteractionsLambdaFunction')).toEqual(
      named('helmgate/slack', 'helmgate/github-token', 'helmgate/github-app'),
    );
    expect(secrets('SweeperLambdaFunction')).toEqual(
      named('helmgate/slack', 'helmgate/github-token', 'helmgate/github-app'),
    );
    // deployment secrets only through an environment role (below); Slack through its bot-only secret
    expect(secrets('DeployRunnerLambdaFunction')).toEqual(
      named('helmgate/github-token', 'helmgate/github-app', 'helmgate/slack-bot', 'helmgate/digest-key'),
    );
  });

  it("the internet-facing login function's role cannot read the GitHub App secret (its private key)", () => {
    // any Allow statement of the auth role that could reach GetSecretValue, matched as IAM matches
    // (`*` any run, `?` one character) against the App secret's ARN, as AWS names it (6-character suffix)
    const glob = (pattern: string) =>
      new RegExp(
        `^${pattern
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
      );
    const reaches = (s: Statement) =>
      actions(s).some((a) => a === '*' || a === 'secretsmanager:*' || a === 'secretsmanager:GetSecretValue');
    const appSecret = [secretArn('helmgate/github-app'), secretArn('helmgate/github-app-AbC123')];
    const statements = statementsOf('AuthLambdaFunction').filter((s) => s.Effect === 'Allow' && reaches(s));
    expect(statements.length).toBeGreaterThan(0);
    const readable = statements
      .flatMap((s) => resourceTexts(s.Resource))
      .filter((r) => appSecret.some((arn) => glob(r).test(arn)));
    expect(readable).toEqual([]);
    // while the login secret stays readable
    expect(
      statements
        .flatMap((s) => resourceTexts(s.Resource))
        .some((r) => glob(r).test(secretArn('helmgate/github-oauth-AbC123'))),
    ).toBe(true);
  });

  it('touches the table only where needed, read-only for the deployments API', () => {
    const writes = FUNCTIONS.filter((id) => allowed(id, 'dynamodb:PutItem').length > 0);
    expect(writes.sort()).toEqual(
      [
        'WebhookLambdaFunction',
        'ApprovalLambdaFunction',
        'SlackInteractionsLambdaFunction',
        'SweeperLambdaFunction',
        'DeployRunnerLambdaFunction',
        'AuthLambdaFunction',
      ].sort(),
    );
    const deploymentsActions = statementsOf('DeploymentsLambdaFunction')
      .flatMap(actions)
      .filter((a) => a.startsWith('dynamodb:'));
    expect(deploymentsActions.sort()).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
    // login and logout write their own session records, and only those (a LeadingKeys condition)
    const auth = statementsOf('AuthLambdaFunction').filter((s) =>
      actions(s).some((a) => a.startsWith('dynamodb:')),
    );
    expect(auth.map((s) => [actions(s).sort(), s.Condition])).toEqual([
      [
        ['dynamodb:GetItem', 'dynamodb:PutItem'],
        { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['SESSION#*'] } },
      ],
    ]);
  });

  it('invokes only the runner (and the Slack function itself, for its background work)', () => {
    const runner = functionArn(fn('DeployRunnerLambdaFunction').Properties.FunctionName as string);
    const slack = functionArn(fn('SlackInteractionsLambdaFunction').Properties.FunctionName as string);
    const invokes = Object.fromEntries(
      FUNCTIONS.map((id) => [id, allowed(id, 'lambda:InvokeFunction').sort()]),
    );
    expect(invokes).toEqual({
      WebhookLambdaFunction: [runner],
      DeploymentsLambdaFunction: [],
      ApprovalLambdaFunction: [runner],
      AuthLambdaFunction: [],
      SlackInteractionsLambdaFunction: [runner, slack].sort(),
      SweeperLambdaFunction: [runner],
      DeployRunnerLambdaFunction: [runner],
    });
  });
});

describe('IAM isolation of deployments (issue 11): what even a bug in helmgate could not read', () => {
  const ACCOUNT = { 'AWS::Partition': 'aws', 'AWS::Region': 'eu-west-1', 'AWS::AccountId': '123456789012' };
  const arnOf = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}`;
  /** A secret as AWS names it (`-` and 6 random characters), and the bare name (a missing secret). */
  const arnsOf = (name: string) => [arnOf(`${name}-AbC123`), arnOf(name)];
  const CONTROL_SECRETS = [
    'helmgate/github-webhook',
    'helmgate/approval-signing-key',
    'helmgate/github-oauth',
    'helmgate/api-tokens',
    'helmgate/slack',
  ];

  /** IAM's wildcard match of a resource pattern (`*`, `?`) after substituting the pseudo parameters. */
  function matches(pattern: string, arn: string): boolean {
    const concrete = pattern.replace(
      /\$\{(AWS::[A-Za-z]+)\}/g,
      (_, p: string) => ACCOUNT[p as keyof typeof ACCOUNT],
    );
    const re = new RegExp(
      `^${concrete
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
    );
    return re.test(arn);
  }
  function roleStatements(roleId: string): Statement[] {
    const role = resources()[roleId];
    if (role?.Type !== 'AWS::IAM::Role') throw new Error(`no role ${roleId}`);
    return (role.Properties.Policies as Array<{ PolicyDocument: { Statement: Statement[] } }>).flatMap(
      (p) => p.PolicyDocument.Statement,
    );
  }
  function roleReads(roleId: string, name: string): boolean {
    return roleStatements(roleId)
      .filter((st) => st.Effect === 'Allow' && actions(st).includes('secretsmanager:GetSecretValue'))
      .flatMap((st) => resourceTexts(st.Resource))
      .some((pattern) => arnsOf(name).some((arn) => matches(pattern, arn)));
  }
  const roleIds = () => ofType('AWS::IAM::Role').map(([id]) => id);
  /** The roles a role may assume (sts:AssumeRole statements naming roles of this template). */
  const assumable = (roleId: string) =>
    roleStatements(roleId)
      .filter((st) => actions(st).includes('sts:AssumeRole'))
      .flatMap((st) => refs(st.Resource));
  const runnerRoles = () => ['DeployRunnerRole', ...assumable('DeployRunnerRole')];

  it('the matcher itself tells a name from its neighbours', () => {
    expect(matches(secretArn('idr/*'), arnOf('idr/readonly-AbC123'))).toBe(true);
    expect(matches(secretArn('idr/readonly-??????'), arnOf('idr/readonly-AbC123'))).toBe(true);
    expect(matches(secretArn('idr/readonly-??????'), arnOf('idr/readonly-evil-AbC123'))).toBe(false);
    expect(matches(secretArn('helmgate/*'), arnOf('helmgate/slack-AbC123'))).toBe(true);
  });

  it('gives the runner one role per environment of the policy, assumable only by the runner', () => {
    const envRoles = assumable('DeployRunnerRole');
    expect(envRoles).toHaveLength(2);
    for (const id of envRoles) {
      const trust = resources()[id]?.Properties.AssumeRolePolicyDocument as { Statement: Array<Json> };
      expect(trust.Statement).toEqual([
        {
          Effect: 'Allow',
          Principal: { AWS: { 'Fn::GetAtt': ['DeployRunnerRole', 'Arn'] } },
          Action: 'sts:AssumeRole',
        },
      ]);
    }
    // nobody else may assume anything
    for (const id of roleIds().filter((r) => r !== 'DeployRunnerRole')) expect(assumable(id)).toEqual([]);
    const map = (fn('DeployRunnerLambdaFunction').Properties.Environment as { Variables: Json }).Variables
      .HELMGATE_ENVIRONMENT_ROLES;
    expect(refs(map).sort()).toEqual([...envRoles].sort());
    expect(JSON.stringify(map)).toContain('"*#staging\\":\\"');
  });

  it('no runner role (its own or an environment role) can read a control secret', () => {
    const reads = runnerRoles().flatMap((role) =>
      CONTROL_SECRETS.filter((name) => roleReads(role, name)).map((name) => `${role} reads ${name}`),
    );
    expect(reads).toEqual([]);
    // and the check can fail: the roles that need them do read them
    expect(roleReads('WebhookRole', 'helmgate/github-webhook')).toBe(true);
  });

  it("no single role reads both environments' cluster credentials, and each environment role reads its own", () => {
    const both = roleIds().filter(
      (role) => roleReads(role, 'helmgate/staging/cluster') && roleReads(role, 'helmgate/production/cluster'),
    );
    expect(both).toEqual([]);
    const readers = (name: string) => roleIds().filter((role) => roleReads(role, name));
    expect(readers('helmgate/staging/cluster')).toHaveLength(1);
    expect(readers('helmgate/production/cluster')).toHaveLength(1);
    expect(readers('helmgate/staging/cluster')).not.toEqual(readers('helmgate/production/cluster'));
    // staging's role reads what the policy lets staging read, and not production's other secrets
    const [staging] = readers('helmgate/staging/cluster') as [string];
    expect(roleReads(staging, 'idr/readonly')).toBe(true);
    expect(roleReads(staging, 'idr/vae/github-oauth')).toBe(false);
  });

  it('every function carries the packaged policy as HELMGATE_POLICY', () => {
    const packaged = readFileSync(path.join(root, 'helmgate-policy.yaml'), 'utf8');
    for (const id of FUNCTIONS) {
      const policy = (fn(id).Properties.Environment as { Variables: Json }).Variables.HELMGATE_POLICY;
      expect(JSON.parse(policy as string)).toEqual(parseYaml(packaged));
    }
  });
});

describe('operations (issue 15 item 6): alarms on every HTTP function, the dashboard', () => {
  const alarms = () => ofType('AWS::CloudWatch::Alarm').map(([, r]) => r.Properties);
  /** logical ids of the functions an httpApi route integrates */
  const httpFunctions = () => [
    ...new Set(ofType('AWS::ApiGatewayV2::Integration').map(([, r]) => refs(r.Properties.IntegrationUri)[0])),
  ];

  it('alarms on the errors (5xx) and throttles of every function behind an HTTP route, to the alarm topic', () => {
    const http = httpFunctions();
    expect(http.sort()).toEqual(FUNCTIONS.filter((f) => !/Sweeper|DeployRunner/.test(f)).sort());
    for (const id of http) {
      for (const metric of ['Errors', 'Throttles']) {
        const matching = alarms().filter(
          (a) =>
            a.Namespace === 'AWS/Lambda' &&
            a.MetricName === metric &&
            JSON.stringify(a.Dimensions) === JSON.stringify([{ Name: 'FunctionName', Value: { Ref: id } }]),
        );
        expect({ id, metric, count: matching.length }).toEqual({ id, metric, count: 1 });
        expect(matching[0]).toMatchObject({
          Statistic: 'Sum',
          Threshold: 0,
          ComparisonOperator: 'GreaterThanThreshold',
        });
        expect(refs(matching[0]?.AlarmActions)).toEqual(['AlarmTopic']);
      }
    }
    const api5xx = alarms().filter((a) => a.Namespace === 'AWS/ApiGateway' && a.MetricName === '5xx');
    expect(api5xx).toHaveLength(1);
    expect(refs(api5xx[0]?.Dimensions)).toEqual(['HttpApi']);
  });

  it('has a dashboard with every deployment metric MetricsNotifier emits, the API, the functions and the queue', () => {
    const dashboards = ofType('AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const [, dashboard] = dashboards[0] as [string, Resource];
    const body = (dashboard.Properties.DashboardBody as { 'Fn::Sub': string })['Fn::Sub'];
    const parsed = JSON.parse(body) as { widgets: Array<{ properties: { metrics: unknown[][] } }> };
    // every metric row is an array (CloudWatch's dashboard body rejects anything else)
    for (const w of parsed.widgets)
      for (const row of w.properties.metrics) expect(Array.isArray(row)).toBe(true);
    const source = readFileSync(path.join(root, 'lib/metrics/metrics-notifier.ts'), 'utf8');
    const emitted = new Set([...source.matchAll(/addMetric\(\s*'(\w+)'/g)].map((m) => m[1]));
    for (const m of source.matchAll(/'(Release\w+|Deployment\w+)'/g)) emitted.add(m[1]);
    expect(emitted.size).toBeGreaterThanOrEqual(9);
    for (const metric of emitted)
      expect({ metric, shown: body.includes(`MetricName=\\"${metric}\\"`) }).toEqual({ metric, shown: true });
    expect(body).toContain('{Helmgate,environment,release,service}');
    for (const id of FUNCTIONS) {
      const name = (fn(id).Properties.FunctionName as string) ?? '';
      expect(body).toContain(`"${name}"`);
    }
    // nothing but these placeholders for Fn::Sub to fill in
    expect(new Set(body.match(/\$\{[^}]*\}/g))).toEqual(
      new Set([`\${AWS::Region}`, `\${HttpApi}`, `\${AsyncFailureQueue.QueueName}`]),
    );
  });

  it('puts the runner in no VPC by default', () => {
    expect(fn('DeployRunnerLambdaFunction').Properties.VpcConfig).toBeUndefined();
    for (const id of FUNCTIONS) expect(fn(id).Properties.VpcConfig).toBeUndefined();
  });
});

describe('private clusters (issue 15 item 3): the runner in the stage’s subnets', () => {
  const subnets = 'subnet-0123456789abcdef0,subnet-0fedcba9876543210';
  const groups = 'sg-0123456789abcdef0';

  it('with both parameters, the runner (and only it) gets the VPC configuration and its network-interface rights', async () => {
    const result = await packageService('ci', [
      `--param=runnerSubnetIds=${subnets}`,
      `--param=runnerSecurityGroupIds=${groups}`,
    ]);
    try {
      if (result.code !== 0) throw new Error(`osls package failed (${result.code}):\n${result.out}`);
      const t = JSON.parse(
        readFileSync(path.join(result.dir, 'cloudformation-template-update-stack.json'), 'utf8'),
      ) as { Resources: Record<string, Resource> };
      expect(t.Resources.DeployRunnerLambdaFunction?.Properties.VpcConfig).toEqual({
        SubnetIds: subnets.split(','),
        SecurityGroupIds: [groups],
      });
      for (const id of FUNCTIONS.filter((f) => f !== 'DeployRunnerLambdaFunction'))
        expect(t.Resources[id]?.Properties.VpcConfig).toBeUndefined();
      const policies = t.Resources.DeployRunnerRole?.Properties.Policies as Array<{
        PolicyName: string;
        PolicyDocument: { Statement: Statement[] };
      }>;
      const vpc = policies.find((p) => p.PolicyName === 'vpc-network-interfaces');
      expect(actions(vpc?.PolicyDocument.Statement[0] as Statement)).toEqual(
        expect.arrayContaining(['ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface']),
      );
    } finally {
      rmSync(result.dir, { recursive: true, force: true });
    }
  }, 150_000);

  it('refuses one parameter without the other, and values that are not ids', async () => {
    const half = await packageService('ci', [`--param=runnerSubnetIds=${subnets}`]);
    rmSync(half.dir, { recursive: true, force: true });
    expect(half.code).not.toBe(0);
    expect(half.out).toContain('give both or neither');
    const bad = await packageService('ci', [
      '--param=runnerSubnetIds=subnet-0123456789abcdef0',
      '--param=runnerSecurityGroupIds=sg-1;curl',
    ]);
    rmSync(bad.dir, { recursive: true, force: true });
    expect(bad.code).not.toBe(0);
    expect(bad.out).toContain('not a security group id');
  }, 300_000);
});

describe('EKS through IAM (issue 15 item 2): the environment role of an eks cluster', () => {
  it('may describe that cluster and no other, and reads no cluster secret', async () => {
    const policyFile = path.join(tmp, `policy-${randomUUID()}.yaml`);
    mkdirSync(tmp, { recursive: true });
    writeFileSync(
      policyFile,
      `apiVersion: helmgate/policy/v1
repositories:
  example-org/deployments:
    environments:
      production:
        approval: none
        cluster: { eks: { name: platform-prod, region: eu-west-1 } }
        secretPrefixes: [idr/]
`,
    );
    const result = await packageService('ci', [`--param=policyFile=${path.relative(root, policyFile)}`]);
    try {
      if (result.code !== 0) throw new Error(`osls package failed (${result.code}):\n${result.out}`);
      const t = JSON.parse(
        readFileSync(path.join(result.dir, 'cloudformation-template-update-stack.json'), 'utf8'),
      ) as { Resources: Record<string, Resource> };
      const roles = Object.entries(t.Resources).filter(([id]) => /^HelmgateEnv\w+Role$/.test(id));
      expect(roles).toHaveLength(1);
      const [, role] = roles[0] as [string, Resource];
      const statements = (
        role.Properties.Policies as Array<{ PolicyDocument: { Statement: Statement[] } }>
      ).flatMap((p) => p.PolicyDocument.Statement);
      expect(
        statements.filter((s) => actions(s).includes('eks:DescribeCluster')).map((s) => s.Resource),
      ).toEqual([
        { 'Fn::Sub': 'arn:${AWS::Partition}:eks:eu-west-1:${AWS::AccountId}:cluster/platform-prod' },
      ]);
      const secretResources = statements
        .filter((s) => actions(s).includes('secretsmanager:GetSecretValue'))
        .flatMap((s) => resourceTexts(s.Resource));
      expect(secretResources).toEqual([secretArn('idr/*')]);
    } finally {
      rmSync(result.dir, { recursive: true, force: true });
      rmSync(policyFile, { force: true });
    }
  }, 150_000);
});
