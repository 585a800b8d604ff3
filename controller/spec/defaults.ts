/** Values a Rollout gets when it leaves a field out: shared by validation (semantic.ts) and the runtime. */
export const ANALYSIS_DEFAULTS = {
  interval: '1m',
  noDataGrace: '10m',
  maxConsecutiveErrors: 5,
} as const;
