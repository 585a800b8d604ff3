/**
 * Whether a new set of policies may replace the one in force (SIGHUP, POST/DELETE /v1/policies). Pure.
 *
 * A rollout that has not finished names its policy; a set without that name would leave it with no window at all
 * (facts: `policy "x" is not loaded`, nothing starts), so such a set is refused and the old one stays in force.
 */
export interface PolicyUser {
  name: string;
  policy: string;
}

/** One line per policy that unfinished rollouts still use and the new set lacks; empty when the set may replace. */
export function missingPolicyProblems(next: ReadonlySet<string>, unfinished: readonly PolicyUser[]): string[] {
  const byPolicy = new Map<string, string[]>();
  for (const u of unfinished) {
    if (next.has(u.policy)) continue;
    byPolicy.set(u.policy, [...(byPolicy.get(u.policy) ?? []), u.name]);
  }
  return [...byPolicy].map(([policy, users]) => {
    const shown = users.slice(0, 3).join(', ') + (users.length > 3 ? `, and ${users.length - 3} more` : '');
    return `policy "${policy}" is still used by unfinished rollout${users.length === 1 ? '' : 's'} ${shown}; keep it until they finish`;
  });
}
