/**
 * The JSON Schema of a notification event: the body a webhook sink POSTs (and what the Slack and PagerDuty
 * payloads are built from). engine/events.ts builds these; test/unit/notifications.test.ts validates them here.
 */
import { EVENT_TYPES } from '../engine/events';

const nullableString = { type: ['string', 'null'] } as const;
const nullableNumber = { type: ['number', 'null'] } as const;

export const notificationEventSchema = {
  
  type: 'object',
  additionalProperties: false,
  required: ['id', 'type', 'time', 'severity', 'rollout', 'channel', 'version', 'ring', 'ringName', 'actor', 'reason'],
  properties: {
    /** The idempotency key: `<rollout>:<transition n>:<type>` or `killswitch:<time>:<type>`; also the Idempotency-Key header. */
    id: { type: 'string', minLength: 1 },
    type: { type: 'string', enum: [...EVENT_TYPES] },
    /** ISO 8601 UTC. */
    time: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' },
    severity: { type: 'string', enum: ['info', 'warning', 'critical'] },
    rollout: nullableString,
    channel: nullableString,
    version: nullableString,
    ring: { type: ['integer', 'null'], minimum: 0 },
    ringName: nullableString,
    actor: { type: 'string' },
    reason: { type: 'string' },
    /** rollout.halted only: the failing metrics (or those with a concern) as the judge's verdict carries them. */
    evidence: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['metric', 'result', 'reason', 'candidateRate', 'baselineRate', 'ratio', 'statistic', 'boundary'],
        properties: {
          metric: { type: 'string' },
          result: { type: 'string' },
          reason: { type: 'string' },
          candidateRate: nullableNumber,
          baselineRate: nullableNumber,
          ratio: nullableNumber,
          /** ln e-process of the relative test, and its boundary ln(1/alpha). */
          statistic: nullableNumber,
          boundary: nullableNumber,
        },
      },
    },
  },
} as const;
