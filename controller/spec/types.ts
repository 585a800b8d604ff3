/**
 * Types of the Ringmaster documents, derived from the JSON Schemas in schema.ts.
 * Never write these shapes by hand: change the schema and the types follow.
 */
import type { FromSchema } from 'json-schema-to-ts';
import type { metricSchema, policySchema, ringSchema, rolloutSchema } from './schema';

// The oneOf/if-then branches only constrain which fields appear together; for the code's purposes a
// ring/metric is the plain object shape, so the branches are stripped before deriving the type.
type Plain<S> = Omit<S, 'oneOf' | 'if' | 'then' | 'else'>;

export type Rollout = FromSchema<typeof rolloutSchema, { parseIfThenElseKeywords: false; parseNotKeyword: false }>;
export type Policy = FromSchema<typeof policySchema, { parseIfThenElseKeywords: false; parseNotKeyword: false }>;
export type Ring = FromSchema<Plain<typeof ringSchema>>;
export type MetricSpec = FromSchema<Plain<typeof metricSchema>>;
export type RolloutSpec = Rollout['spec'];
export type PolicySpec = Policy['spec'];
export type Artifact = RolloutSpec['artifact'];
export type AllowWindow = PolicySpec['allow'][number];
export type Freeze = NonNullable<PolicySpec['freezes']>[number];
export type TenantRule = NonNullable<PolicySpec['tenants']>[number];
export type Day = AllowWindow['days'][number];
