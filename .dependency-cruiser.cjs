/**
 * Architecture rules (issue 10), checked by `npm run lint` through scripts/check-architecture.mjs
 * (dependency-cruiser's JS API: its CLI refuses Node 20). Every rule says why it exists.
 *
 * Layers: handlers/ adapt events and import lib; lib/compose/ is the one composition root (it builds
 * the dependency graph for AWS, the local stack and the CLI); lib/deploy/ and lib/policy/ are the pure
 * planning core; everything else in lib/ is a port, an adapter or orchestration.
 */
const PURE_CORE = '^lib/(deploy|policy)/';
/** modules that act on the world: the pure core may not reach them, not even transitively */
const ADAPTER_MODULES = [
  '^lib/(store|helm|kube|runner|compose|exec|dispatch|sweeper|intake|local|lifecycle|approval|notify|slack|github|cli|http|metrics|auth)/',
  '(^|/)node_modules/(@aws-sdk|@slack|@octokit|@kubernetes)/',
  '^(node:)?(child_process|http|https|net|dgram|tls)$',
];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'An import cycle means two modules cannot be understood (or tested, or bundled) apart; break it by moving the shared part down a layer.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'lib-not-handlers',
      severity: 'error',
      comment:
        'handlers/ adapt events to lib; lib never imports a handler (not even its types): handler deps are built by lib/compose and checked where the handler takes them.',
      from: { path: '^lib/' },
      to: { path: '^handlers/' },
    },
    {
      name: 'lib-not-bench-or-test',
      severity: 'error',
      comment: 'Shipped code must not depend on benches, tests, fakes or stand-ins.',
      from: { path: '^lib/' },
      to: { path: '^(bench|test)/' },
    },
    {
      name: 'handlers-not-bench-or-test',
      severity: 'error',
      comment: 'Handlers are bundled into the Lambdas: no bench or test code may ride along.',
      from: { path: '^handlers/' },
      to: { path: '^(bench|test)/' },
    },
    {
      name: 'test-not-bench',
      severity: 'error',
      comment:
        'One direction only between benches and tests: bench may use test helpers, stand-ins and test/scenarios; a test never imports bench code (shared scenarios live in test/scenarios).',
      from: { path: '^test/' },
      to: { path: '^bench/' },
    },
    {
      name: 'pure-core-acts-on-nothing',
      severity: 'error',
      comment:
        'The planning core (lib/deploy, lib/policy) decides; it never reaches the store, helm, kube, the runner, the lifecycle apply, notifiers, HTTP, child processes, the network or an SDK (AWS, Slack, Octokit, Kubernetes), directly or through another module.',
      from: { path: PURE_CORE },
      to: { path: ADAPTER_MODULES, reachable: true },
    },
    {
      name: 'aws-sdk-only-in-root-and-adapters',
      severity: 'error',
      comment:
        'Only the composition root (lib/compose) builds AWS SDK clients. The adapters that receive an injected client (the DynamoDB store, the Secrets Manager provider, the environment-role credentials, the Lambda dispatchers) may import command classes and errors; nothing else in lib or handlers talks to the SDK. Client construction outside lib/compose is checked by scripts/check-architecture.mjs.',
      from: {
        path: '^(lib|handlers)/',
        pathNot: [
          '^lib/compose/',
          '^lib/store/dynamodb-[^/]+[.]ts$',
          '^lib/secrets/secrets-manager-provider[.]ts$',
          // AssumeRole through the injected STS client: a deployment's secrets under its environment's role
          '^lib/runner/environment-secrets[.]ts$',
          '^lib/dispatch/',
        ],
      },
      to: { path: '(^|/)node_modules/@aws-sdk/' },
    },
    {
      name: 'processes-only-through-the-command-runner',
      severity: 'error',
      comment:
        'Child processes get an argv array, no shell and an allow-listed environment, and tests replace them with a recording fake: only the command-runner seam (lib/exec/command-runner.ts) spawns.',
      from: { path: '^(lib|handlers)/', pathNot: '^lib/exec/command-runner[.]ts$' },
      to: { path: '^(node:)?child_process$' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    // ESM-only packages (Octokit) export only under the import condition
    enhancedResolveOptions: {
      conditionNames: ['import', 'require', 'node', 'default'],
      exportsFields: ['exports'],
    },
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|[.]helmgate|test/fixtures)' },
    moduleSystems: ['es6', 'cjs'],
  },
};
