'use strict';
/**
 * A local osls plugin (see `plugins` in serverless.yml): what an operator watches and how the runner
 * reaches a private cluster.
 *  - For every function with an `httpApi` event: an alarm on its errors (an unhandled error is the
 *    API's 5xx for that route) and one on its throttles; one alarm on the HTTP API's own 5xx count.
 *    Derived from the functions, so a function added later is watched without anyone remembering to.
 *  - A CloudWatch dashboard: the deployment metrics lib/metrics/metrics-notifier.ts emits (namespace
 *    Helmgate, by environment and by release), the API's 5xx and latency, the functions' errors,
 *    throttles and durations, the dead-letter queue.
 *  - With the stage parameters runnerSubnetIds and runnerSecurityGroupIds (both comma-separated, both
 *    or neither), the deploy runner runs in those subnets (docs/operations.md, "Private clusters").
 *    Without them: no VPC configuration at all.
 */

const RUNNER_FUNCTION = 'DeployRunnerLambdaFunction';
const RUNNER_ROLE = 'DeployRunnerRole';
const QUEUE = 'AsyncFailureQueue';
const TOPIC = 'AlarmTopic';
const HTTP_API = 'HttpApi';
/** the per-release metrics MetricsNotifier emits (a test checks every metric it emits is on the dashboard) */
const RELEASE_METRICS = ['ReleaseSucceeded', 'ReleaseFailed', 'ReleaseSkipped'];
const SUBNET = /^subnet-[0-9a-f]{8,17}$/;
const SECURITY_GROUP = /^sg-[0-9a-f]{8,17}$/;

// Fn::Sub placeholders, filled in by CloudFormation (not JavaScript templates)
const sub = (name) => ['$', '{', name, '}'].join('');
const REGION = sub('AWS::Region');
const API_ID = sub(HTTP_API);
const QUEUE_NAME = sub(`${QUEUE}.QueueName`);
const pascal = (name) => name.charAt(0).toUpperCase() + name.slice(1);
const list = (value) =>
  String(value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function alarm(name, description, props) {
  return {
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      AlarmName: name,
      AlarmDescription: description,
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: TOPIC }],
      OKActions: [{ Ref: TOPIC }],
      ...props,
    },
  };
}

/** The dashboard body as a Fn::Sub template (region, API id and queue name filled in by CloudFormation). */
function dashboardBody(allFunctionNames) {
  // a math expression is a one-element row `[{ expression, label, id }]`; ids are unique per widget
  let n = 0;
  const search = (dims, metric, stat) => [
    [
      {
        expression: `SEARCH('{Helmgate,${dims}} MetricName="${metric}"', '${stat}', 300)`,
        label: `${metric} ${stat}`,
        id: `e${++n}`,
      },
    ],
  ];
  const widgets = [];
  const add = (title, metrics, extra = {}) =>
    widgets.push({
      type: 'metric',
      width: 12,
      height: 6,
      properties: {
        title,
        region: REGION,
        view: 'timeSeries',
        stat: 'Sum',
        period: 300,
        metrics,
        ...extra,
      },
    });
  add(
    'Deployments by environment (count)',
    ['DeploymentSucceeded', 'DeploymentFailed', 'DeploymentBlocked'].flatMap((m) =>
      search('environment,service', m, 'Sum'),
    ),
  );
  add('Deployment duration (ms, p50 / max)', [
    ...search('environment,service', 'DeploymentDuration', 'p50'),
    ...search('environment,service', 'DeploymentDuration', 'Maximum'),
  ]);
  add('Approval wait (s, max)', search('environment,service', 'ApprovalWait', 'Maximum'));
  add('Release retries (count)', search('environment,service', 'ReleaseRetries', 'Sum'));
  add(
    'Releases by environment and release (count)',
    RELEASE_METRICS.flatMap((m) => search('environment,release,service', m, 'Sum')),
  );
  add('HTTP API: 5xx, 4xx, requests', [
    ['AWS/ApiGateway', '5xx', 'ApiId', API_ID],
    ['AWS/ApiGateway', '4xx', 'ApiId', API_ID],
    ['AWS/ApiGateway', 'Count', 'ApiId', API_ID],
  ]);
  add('HTTP API latency (ms, p99)', [['AWS/ApiGateway', 'Latency', 'ApiId', API_ID, { stat: 'p99' }]]);
  add(
    'Function errors and throttles',
    allFunctionNames.flatMap((f) => [
      ['AWS/Lambda', 'Errors', 'FunctionName', f],
      ['AWS/Lambda', 'Throttles', 'FunctionName', f],
    ]),
  );
  add(
    'Function duration (ms, max)',
    allFunctionNames.map((f) => ['AWS/Lambda', 'Duration', 'FunctionName', f, { stat: 'Maximum' }]),
  );
  add(
    'Dead-letter queue (messages visible)',
    [['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', QUEUE_NAME]],
    { stat: 'Maximum' },
  );
  return JSON.stringify({ widgets });
}

class HelmgateOperationsPlugin {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = {
      'after:aws:package:finalize:mergeCustomProviderResources': () => this.apply(),
    };
  }

  apply() {
    const sls = this.serverless;
    const service = sls.service;
    const stage = sls.getProvider('aws').getStage();
    const prefix = `${service.service}-${stage}`;
    const resources = service.provider.compiledCloudFormationTemplate.Resources;
    for (const id of [RUNNER_FUNCTION, RUNNER_ROLE, QUEUE, TOPIC, HTTP_API])
      if (!resources[id]) throw new Error(`serverless-operations: ${id} must exist`);

    const functions = Object.entries(service.functions ?? {});
    const nameOf = (key, f) => f.name ?? `${prefix}-${key}`;
    const http = functions.filter(([, f]) => (f.events ?? []).some((e) => e?.httpApi));
    for (const [key, f] of http) {
      const logical = `${pascal(key)}LambdaFunction`;
      if (!resources[logical]) throw new Error(`serverless-operations: no ${logical}`);
      const dims = [{ Name: 'FunctionName', Value: { Ref: logical } }];
      resources[`${pascal(key)}ErrorsAlarm`] = alarm(
        `${prefix}-${key}-errors`,
        `${key} failed a request (an error is a 5xx to the caller); see its log group /aws/lambda/${nameOf(key, f)}.`,
        { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: dims, Statistic: 'Sum' },
      );
      resources[`${pascal(key)}ThrottlesAlarm`] = alarm(
        `${prefix}-${key}-throttles`,
        `${key} was throttled (account or reserved concurrency reached); requests got 5xx.`,
        { Namespace: 'AWS/Lambda', MetricName: 'Throttles', Dimensions: dims, Statistic: 'Sum' },
      );
    }
    resources.HttpApi5xxAlarm = alarm(
      `${prefix}-http-5xx`,
      'The HTTP API answered 5xx (a function failed, timed out or was throttled).',
      {
        Namespace: 'AWS/ApiGateway',
        MetricName: '5xx',
        Dimensions: [{ Name: 'ApiId', Value: { Ref: HTTP_API } }],
        Statistic: 'Sum',
      },
    );

    resources.OperationsDashboard = {
      Type: 'AWS::CloudWatch::Dashboard',
      Properties: {
        DashboardName: prefix,
        DashboardBody: {
          'Fn::Sub': dashboardBody(functions.map(([key, f]) => nameOf(key, f))),
        },
      },
    };

    this.applyVpc(resources, service.custom ?? {});
  }

  applyVpc(resources, custom) {
    const subnets = list(custom.runnerSubnetIds);
    const groups = list(custom.runnerSecurityGroupIds);
    if (subnets.length === 0 && groups.length === 0) return;
    if (subnets.length === 0 || groups.length === 0)
      throw new Error('runnerSubnetIds and runnerSecurityGroupIds: give both or neither');
    for (const s of subnets) if (!SUBNET.test(s)) throw new Error(`runnerSubnetIds: not a subnet id: ${s}`);
    for (const g of groups)
      if (!SECURITY_GROUP.test(g)) throw new Error(`runnerSecurityGroupIds: not a security group id: ${g}`);
    resources[RUNNER_FUNCTION].Properties.VpcConfig = { SubnetIds: subnets, SecurityGroupIds: groups };
    // What AWSLambdaVPCAccessExecutionRole grants, inline: Lambda creates and removes the runner's
    // network interfaces with the function's role. EC2 cannot scope the Describe calls to a resource.
    resources[RUNNER_ROLE].Properties.Policies.push({
      PolicyName: 'vpc-network-interfaces',
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: [
              'ec2:CreateNetworkInterface',
              'ec2:DescribeNetworkInterfaces',
              'ec2:DescribeSubnets',
              'ec2:DeleteNetworkInterface',
              'ec2:AssignPrivateIpAddresses',
              'ec2:UnassignPrivateIpAddresses',
            ],
            Resource: '*',
          },
        ],
      },
    });
  }
}

module.exports = HelmgateOperationsPlugin;
