/** The two-person rule (controller/policy/two-person.ts): one row per verb x who asks, with the expected decision. */
import { separatedVerbOf, TWO_PERSON_RULE, twoPersonDecision, type TwoPersonFacts } from '../../controller/policy/two-person';

const ALICE = 'oidc:https://idp.example/ sub=alice';
const BOB = 'oidc:https://idp.example/ sub=bob';

type Row = [string, Omit<TwoPersonFacts, 'distinctFrom'> & { distinctFrom?: TwoPersonFacts['distinctFrom'] }, string | null];

const ROWS: Row[] = [
  // verb: approve
  ['approve by the applier', { verb: 'approve', requester: ALICE, applier: ALICE, engager: null, rollout: 'r1' }, `${ALICE} applied rollout r1 and may not approve it; another person must`],
  ['approve by another subject', { verb: 'approve', requester: BOB, applier: ALICE, engager: null, rollout: 'r1' }, null],
  ['approve when the applier is unknown', { verb: 'approve', requester: BOB, applier: null, engager: null, rollout: 'r1' }, 'who applied rollout r1 is not known, so nobody may approve it here'],
  ['approve by the applier, rule off', { verb: 'approve', requester: ALICE, applier: ALICE, engager: null, distinctFrom: 'none' }, null],
  // verb: promote --full (the promote route calls the same function)
  ['promote --full by the applier', { verb: 'promote-full', requester: ALICE, applier: ALICE, engager: null, rollout: 'r1' }, `${ALICE} applied rollout r1 and may not promote it to full; another person must`],
  ['promote --full by another subject', { verb: 'promote-full', requester: BOB, applier: ALICE, engager: null, rollout: 'r1' }, null],
  ['promote --full, rule off', { verb: 'promote-full', requester: ALICE, applier: ALICE, engager: null, distinctFrom: 'none' }, null],
  // verb: kill switch release
  ['release by the engager', { verb: 'killswitch-release', requester: ALICE, applier: null, engager: ALICE }, `${ALICE} engaged the kill switch and may not release it; another person must`],
  ['release by another subject', { verb: 'killswitch-release', requester: BOB, applier: null, engager: ALICE }, null],
  ['release of a switch that is not engaged', { verb: 'killswitch-release', requester: ALICE, applier: null, engager: null }, null],
  ['release by the engager, rule off', { verb: 'killswitch-release', requester: ALICE, applier: null, engager: ALICE, distinctFrom: 'none' }, null],
  // subjects are compared exactly: the same name at another issuer is another subject
  ['approve by a same-named subject of another issuer', { verb: 'approve', requester: 'oidc:https://other.example/ sub=alice', applier: ALICE, engager: null }, null],
];

describe('twoPersonDecision', () => {
  test.each(ROWS)('%s', (_name, facts, refusal) => {
    const d = twoPersonDecision({ distinctFrom: 'applier', ...facts });
    if (refusal === null) expect(d).toEqual({ allowed: true });
    else expect(d).toEqual({ allowed: false, rule: TWO_PERSON_RULE, message: `${TWO_PERSON_RULE}: ${refusal}` });
  });
});

test('separatedVerbOf: approve and promote --full always; a promote only when it is an approval', () => {
  expect(separatedVerbOf('approve', 'awaiting-approval')).toBe('approve');
  expect(separatedVerbOf('promote-full', 'progressing')).toBe('promote-full');
  expect(separatedVerbOf('promote', 'awaiting-approval')).toBe('approve');
  expect(separatedVerbOf('promote', 'progressing')).toBeNull();
  expect(separatedVerbOf('pause', 'awaiting-approval')).toBeNull();
  expect(separatedVerbOf('approve', undefined)).toBe('approve');
});
