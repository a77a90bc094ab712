/**
 * How an environment reaches its cluster (the policy's `cluster`): a Secrets Manager secret holding a
 * kubeconfig or server + CA + token, or an EKS cluster reached through IAM with the environment role
 * (issue 15 item 2) — no stored credential at all.
 */
export type ClusterRef = { secret: string } | { eks: { name: string; region: string } };

/**
 * One line for plans, summaries and digests. A secret's name keeps its old form (plan digests of
 * existing installations do not change); `eks:` cannot begin a secret name (no `:` in one).
 */
export function clusterLabel(c: ClusterRef): string {
  return 'secret' in c ? c.secret : `eks:${c.eks.name}@${c.eks.region}`;
}

/** A copy with nothing but the reference (the policy's parsed object may carry more). */
export function copyClusterRef(c: ClusterRef): ClusterRef {
  return 'secret' in c ? { secret: c.secret } : { eks: { name: c.eks.name, region: c.eks.region } };
}
