import { KubeConfig } from '@kubernetes/client-node';
import type { Clock } from '../clock';
import type { EnvironmentPlan } from '../deploy/plan';
import { HelmgateError } from '../errors';
import { guardFor, type OutboundFor } from '../http/outbound-guard';
import { kubeConfigFromSecret, kubeconfigPath, writeKubeconfig } from '../kube/kube-config';
import { kubeOperations } from '../kube/kube-ops';
import type { Logger } from '../log/logger';
import type { SecretResolver } from '../secrets/secrets-provider';
import { type AwsCredentials, describeEksCluster, eksToken, eksTokenSource } from './eks-token';
import type { ClusterAccess } from './helm-cluster';

export type ClusterAccessFactory = (
  plan: EnvironmentPlan,
  ctx: {
    workDir: string;
    secrets: SecretResolver;
    digestKey: string;
    repository?: string;
    deploymentId?: string;
  },
) => Promise<ClusterAccess>;

export interface AccessOptions {
  logger: Logger;
  /**
   * Where `health.http` checks may go (issue 12). Default: public unicast addresses only — the policy
   * (lib/policy) names the private hosts or ranges an environment's checks may reach.
   */
  outbound?: OutboundFor;
  /** extra helm upgrade flags (tests: `--disable-openapi-validation` for the loopback API stand-in) */
  upgradeFlags?: string[];
}

/**
 * AWS: the environment's cluster secret (a kubeconfig, or server + CA + token) becomes a kubeconfig
 * written 0600 into the run's private directory for helm, and a client-node KubeConfig for the
 * secret sync and health checks.
 */
export function clusterAccessFromSecret(opts: AccessOptions): ClusterAccessFactory {
  return async (plan, ctx) => {
    if (!('secret' in plan.cluster))
      throw new HelmgateError('invalid_config', `${plan.environment}: an eks cluster has no cluster secret`);
    const text = await ctx.secrets.resolve({ secret: plan.cluster.secret });
    const kc = kubeConfigFromSecret(text, { secretName: plan.cluster.secret });
    registerKubeconfig(kc, (v, o) => ctx.secrets.registerDerived(v, o));
    // helm's file is written before helm first runs (a no-op redeploy runs none); the Kubernetes client
    // uses `kc` in memory
    const file = kubeconfigPath(ctx.workDir);
    return {
      ...access(kc, file, opts, { digestKey: ctx.digestKey, environment: plan.environment }),
      prepareHelm: async () => {
        await writeKubeconfig(kc, ctx.workDir);
      },
    };
  };
}

/** What the EKS access needs besides AccessOptions; the composition root supplies the AWS parts. */
export interface EksAccessOptions extends AccessOptions {
  clock: Clock;
  /** the credentials of the deployment's environment role (the EKS access entry names that role) */
  credentialsFor: (
    plan: EnvironmentPlan,
    ctx: { repository?: string; deploymentId?: string },
  ) => () => Promise<AwsCredentials>;
  /** tests: loopback EKS; default the region's endpoint */
  eksEndpoint?: string;
  fetch?: typeof fetch;
}

/**
 * AWS, an `eks` cluster in the policy (issue 15 item 2): the endpoint and CA from DescribeCluster, and
 * the EKS token signed with the environment role's credentials, re-signed before EKS's 15 minutes are
 * up, for client-node (read per request) and helm (its 0600 kubeconfig rewritten with each new token).
 * No cluster secret is read.
 */
export function clusterAccessFromEks(opts: EksAccessOptions): ClusterAccessFactory {
  return async (plan, ctx) => {
    const cluster = plan.cluster;
    if (!('eks' in cluster))
      throw new HelmgateError('invalid_config', `${plan.environment}: not an eks cluster`);
    const credentials = opts.credentialsFor(plan, ctx);
    const info = await describeEksCluster({
      cluster: cluster.eks,
      credentials,
      now: opts.clock.now(),
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
      ...(opts.eksEndpoint ? { eksEndpoint: opts.eksEndpoint } : {}),
    });
    const url = new URL(info.endpoint);
    let file: string | undefined;
    const kc = new KubeConfig();
    const source = await eksTokenSource({
      clock: opts.clock,
      sign: (now) => eksToken({ cluster: cluster.eks, credentials, now }),
      onToken: async (token) => {
        ctx.secrets.registerDerived(token);
        // helm reads its kubeconfig when it starts: keep the file's token the current one
        if (file) await writeKubeconfig(kc, ctx.workDir);
      },
      onError: (err) =>
        opts.logger.warn('eks token refresh failed; the held token is valid for 5 more minutes', { err }),
    });
    const user = {
      name: 'helmgate',
      // client-node reads the token for every request
      get token(): string {
        return source.current();
      },
    };
    kc.loadFromOptions({
      clusters: [
        {
          name: 'helmgate',
          server: info.endpoint,
          skipTLSVerify: url.protocol === 'http:',
          caData: info.certificateAuthorityData,
        },
      ],
      users: [user],
      contexts: [{ name: 'helmgate', cluster: 'helmgate', user: 'helmgate' }],
      currentContext: 'helmgate',
    });
    file = await writeKubeconfig(kc, ctx.workDir);
    ctx.secrets.registerDerived(kc.exportConfig(), { lines: false });
    return access(kc, file, opts, { digestKey: ctx.digestKey, environment: plan.environment });
  };
}

/**
 * The credentials inside a kubeconfig built from a cluster secret, and the exported file as a whole, are
 * registered with the redactor: the secret was registered as the JSON it came in, which the kubeconfig
 * text does not contain (issue 12).
 */
export function registerKubeconfig(
  kc: KubeConfig,
  register: (value: string, opts?: { lines?: boolean }) => void,
): void {
  for (const u of kc.getUsers()) {
    for (const v of [u.token, u.password, u.keyData]) if (typeof v === 'string' && v !== '') register(v);
    const provider = u.authProvider as { config?: Record<string, unknown> } | undefined;
    for (const v of Object.values(provider?.config ?? {})) if (typeof v === 'string') register(v);
  }
  register(kc.exportConfig(), { lines: false });
}

/** Local: the operator's kubeconfig file (`KUBECONFIG`), its current context, for every environment. */
export function kubeconfigFileAccess(file: string, opts: AccessOptions): ClusterAccessFactory {
  return async (plan, ctx) => {
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    return access(
      kc,
      file,
      opts,
      { digestKey: ctx.digestKey, environment: plan.environment },
      kc.getCurrentContext(),
    );
  };
}

function access(
  kc: KubeConfig,
  path: string,
  opts: AccessOptions,
  run: { digestKey: string; environment: string },
  context?: string,
): ClusterAccess {
  return {
    helm: { kind: 'kubeconfig', path, ...(context ? { context } : {}) },
    kube: kubeOperations(kc, {
      logger: opts.logger,
      digestKey: run.digestKey,
      health: { fetch: guardFor(opts.outbound, run.environment).fetch },
    }),
    ...(opts.upgradeFlags ? { upgradeFlags: opts.upgradeFlags } : {}),
  };
}
