/**
 * An own-property lookup for tables keyed by input (a query parameter, a name from a commit):
 * `?result=constructor` or an environment called `toString` must not find Object.prototype's members.
 */
export function lookup<V>(table: Readonly<Record<string, V>>, key: string | undefined): V | undefined {
  return key !== undefined && Object.hasOwn(table, key) ? table[key] : undefined;
}
