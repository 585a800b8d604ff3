/**
 * The two-person rule: a pure decision over who asks and who acted before. With a policy's
 * `approvals.distinctFrom: applier`, the subject who applied a rollout may not approve its rings or promote it to
 * full, and the subject who engaged the kill switch may not release it; someone else must. Subjects are audit
 * actors (`oidc:<issuer> sub=<subject>` for people, the token's name for machines), compared exactly.
 *
 * The API gathers the facts (the rollout's applier, the switch's engager, the policy) and answers 403 with the
 * message when this refuses. `promote --full` calls it with verb `promote-full`.
 */

/** Policy `spec.approvals.distinctFrom`: `applier` turns the rule on; `none` (the default) leaves it off. */
export type DistinctFrom = 'applier' | 'none';

export type SeparatedVerb = 'approve' | 'promote-full' | 'killswitch-release';

export interface TwoPersonFacts {
  verb: SeparatedVerb;
  /** The audit actor asking. */
  requester: string;
  /** The rule of the rollout's policy (approve, promote-full) or of the in-flight rollouts' policies (kill switch). */
  distinctFrom: DistinctFrom;
  /** Who applied the rollout; null when unknown (approve, promote-full). */
  applier: string | null;
  /** Who engaged the kill switch; null when it is not engaged (killswitch-release). */
  engager: string | null;
  /** The rollout, for the message. */
  rollout?: string;
}

/**
 * Which separated act a rollout request is, given the phase it finds (null: the rule does not apply). A promote of
 * a ring that awaits its approval is that approval (engine/decide.ts), so the same rule guards it.
 */
export function separatedVerbOf(verb: string, phase: string | undefined): SeparatedVerb | null {
  if (verb === 'approve') return 'approve';
  if (verb === 'promote-full') return 'promote-full';
  if (verb === 'promote' && phase === 'awaiting-approval') return 'approve';
  return null;
}

export const TWO_PERSON_RULE = 'two-person rule (policy approvals.distinctFrom: applier)';

export type TwoPersonDecision = { allowed: true } | { allowed: false; rule: typeof TWO_PERSON_RULE; message: string };

export function twoPersonDecision(f: TwoPersonFacts): TwoPersonDecision {
  if (f.distinctFrom === 'none') return { allowed: true };
  const refuse = (message: string): TwoPersonDecision => ({ allowed: false, rule: TWO_PERSON_RULE, message: `${TWO_PERSON_RULE}: ${message}` });
  const what = f.verb === 'approve' ? 'approve it' : 'promote it to full';
  const target = f.rollout === undefined ? 'the rollout' : `rollout ${f.rollout}`;
  switch (f.verb) {
    case 'approve':
    case 'promote-full':
      if (f.applier === null) return refuse(`who applied ${target} is not known, so nobody may ${what} here`);
      if (f.applier === f.requester) return refuse(`${f.requester} applied ${target} and may not ${what}; another person must`);
      return { allowed: true };
    case 'killswitch-release':
      if (f.engager !== null && f.engager === f.requester) return refuse(`${f.requester} engaged the kill switch and may not release it; another person must`);
      return { allowed: true };
    default: {
      const never: never = f.verb;
      throw new Error(`unknown verb ${String(never)}`);
    }
  }
}
