import { KubeConfig } from '@kubernetes/client-node';
import type { EnvironmentPlan } from '../deploy/plan';
import { guardFor, type OutboundFor } from '../http/outbound-guard';
import { kubeConfigFromSecret, writeKubeconfig } from '../kube/kube-config';
import { kubeOperations } from '../kube/kube-ops';
import type { Logger } from '../log/logger';
import type { SecretResolver } from '../secrets/secrets-provider';
import type { ClusterAccess } from './helm-cluster';

export type ClusterAccessFactory = (
  plan: EnvironmentPlan,
  ctx: { workDir: string; secrets: SecretResolver; digestKey: string },
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
    const text = await ctx.secrets.resolve({ secret: plan.cluster.secret });
    const kc = kubeConfigFromSecret(text, { secretName: plan.cluster.secret });
    registerKubeconfig(kc, (v, o) => ctx.secrets.registerDerived(v, o));
    const path = await writeKubeconfig(kc, ctx.workDir);
    return access(kc, path, opts, { digestKey: ctx.digestKey, environment: plan.environment });
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
