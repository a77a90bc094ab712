import { KubeConfig } from '@kubernetes/client-node';
import type { EnvironmentPlan } from '../deploy/plan';
import { kubeConfigFromSecret, writeKubeconfig } from '../kube/kube-config';
import { kubeOperations } from '../kube/kube-ops';
import type { Logger } from '../log/logger';
import type { SecretResolver } from '../secrets/secrets-provider';
import type { ClusterAccess } from './helm-cluster';

export type ClusterAccessFactory = (
  plan: EnvironmentPlan,
  ctx: { workDir: string; secrets: SecretResolver },
) => Promise<ClusterAccess>;

export interface AccessOptions {
  logger: Logger;
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
    const path = await writeKubeconfig(kc, ctx.workDir);
    return access(kc, path, opts);
  };
}

/** Local: the operator's kubeconfig file (`KUBECONFIG`), its current context, for every environment. */
export function kubeconfigFileAccess(file: string, opts: AccessOptions): ClusterAccessFactory {
  return async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    return access(kc, file, opts, kc.getCurrentContext());
  };
}

function access(kc: KubeConfig, path: string, opts: AccessOptions, context?: string): ClusterAccess {
  return {
    helm: { kind: 'kubeconfig', path, ...(context ? { context } : {}) },
    kube: kubeOperations(kc, { logger: opts.logger }),
    ...(opts.upgradeFlags ? { upgradeFlags: opts.upgradeFlags } : {}),
  };
}
