/**
 * Types of the Ringmaster documents, derived from the JSON Schemas in schema.ts.
 * Never write these shapes by hand: change the schema and the types follow.
 */
import type { FromSchema } from 'json-schema-to-ts';
import type { metricSchema, policySchema, ringSchema, rolloutSchema } from './schema';

// The oneOf/if-then branches only constrain which fields appear together; for the code's purposes a
// ring/metric is the plain object shape, so the branches are stripped before deriving the type.
type Plain<S> = Omit<S, 'oneOf' | 'if' | 'then' | 'else'>;

// A Rollout's defaults are not written into it when it is loaded (but rollback.automatic: see
// MATERIALISED_DEFAULTS): its defaulted fields stay optional; read them through defaults.ts. A Policy's are.
export type Rollout = FromSchema<typeof rolloutSchema, { parseIfThenElseKeywords: false; parseNotKeyword: false; keepDefaultedPropertiesOptional: true }>;
export type Policy = FromSchema<typeof policySchema, { parseIfThenElseKeywords: false; parseNotKeyword: false }>;
export type Ring = FromSchema<Plain<typeof ringSchema>, { keepDefaultedPropertiesOptional: true }>;
export type MetricSpec = FromSchema<Plain<typeof metricSchema>, { keepDefaultedPropertiesOptional: true }>;
export type RolloutSpec = Rollout['spec'];
export type PolicySpec = Policy['spec'];
export type Artifact = RolloutSpec['artifact'];
export type PreflightCheck = NonNullable<RolloutSpec['preflight']>[number];
export type AllowWindow = PolicySpec['allow'][number];
export type Freeze = NonNullable<PolicySpec['freezes']>[number];
export type TenantRule = NonNullable<PolicySpec['tenants']>[number];
export type Day = AllowWindow['days'][number];
