/**
 * An Argo-Rollouts-style judge, written for the bench from Argo Rollouts' public documentation and source
 * (bench/README.md cites them): a measurement's phase from its successCondition and failureCondition (the rules of
 * utils/evaluate EvaluateResult), and an analysis run's phase from its counters (analysis.go
 * assessMetricFailureInconclusiveOrError: failed > failureLimit fails, inconclusive > inconclusiveLimit pauses for a
 * human, consecutive errors > consecutiveErrorLimit (default 4) errors, which aborts like a failure). Pure.
 */

export type ArgoPhase = 'Successful' | 'Failed' | 'Inconclusive' | 'Error';

/** A condition over a measurement's result; it may throw (an expression that cannot be evaluated: an Error phase). */
export type Condition = (result: unknown) => boolean;

export interface ArgoMetric {
  successCondition?: Condition;
  failureCondition?: Condition;
}

/** A measurement's phase (and the error when it is Error). */
export function evaluateResult(result: unknown, metric: ArgoMetric): { phase: ArgoPhase; error?: string } {
  let success = false;
  let failure = false;
  const empty = result === null || result === undefined || (Array.isArray(result) && result.length === 0);
  const fmt = (which: string, err: unknown): string => (empty ? `could not evaluate ${which}: metric result is nil or empty: no data returned from the metric provider` : `could not evaluate ${which}: ${err instanceof Error ? err.message : String(err)}`);
  if (metric.successCondition) {
    try {
      success = metric.successCondition(result);
    } catch (err) {
      return { phase: 'Error', error: fmt('successCondition', err) };
    }
  }
  if (metric.failureCondition) {
    try {
      failure = metric.failureCondition(result);
    } catch (err) {
      return { phase: 'Error', error: fmt('failureCondition', err) };
    }
  }
  if (!metric.successCondition && !metric.failureCondition) return { phase: 'Successful' };
  if (metric.successCondition && !metric.failureCondition) failure = !success;
  if (!metric.successCondition && metric.failureCondition) success = !failure;
  if (failure) return { phase: 'Failed' };
  if (!success) return { phase: 'Inconclusive' };
  return { phase: 'Successful' };
}

export interface ArgoLimits {
  /** Default 0 in Argo; the usual examples use 3. Negative: not applicable. */
  failureLimit: number;
  /** Default 0: one inconclusive measurement makes the run Inconclusive. */
  inconclusiveLimit: number;
  /** Default 4. */
  consecutiveErrorLimit: number;
}
export const ARGO_DEFAULT_LIMITS: ArgoLimits = { failureLimit: 0, inconclusiveLimit: 0, consecutiveErrorLimit: 4 };

export interface ArgoCounters {
  failed: number;
  inconclusive: number;
  consecutiveError: number;
  successful: number;
  error: number;
}

export const newCounters = (): ArgoCounters => ({ failed: 0, inconclusive: 0, consecutiveError: 0, successful: 0, error: 0 });

/** Counts one measurement (errors count consecutively; any other phase resets the consecutive errors). */
export function count(c: ArgoCounters, phase: ArgoPhase): ArgoCounters {
  const n = { ...c };
  if (phase === 'Error') {
    n.error++;
    n.consecutiveError++;
    return n;
  }
  n.consecutiveError = 0;
  if (phase === 'Failed') n.failed++;
  else if (phase === 'Inconclusive') n.inconclusive++;
  else n.successful++;
  return n;
}

/**
 * A metric's run phase from its counters: Failed, Inconclusive, Error, or Running (the later checks win, as in
 * Argo, where the error check comes last).
 */
export function assess(c: ArgoCounters, limits: ArgoLimits): 'Running' | 'Failed' | 'Inconclusive' | 'Error' {
  let phase: 'Running' | 'Failed' | 'Inconclusive' | 'Error' = 'Running';
  if (limits.failureLimit >= 0 && c.failed > limits.failureLimit) phase = 'Failed';
  if (c.inconclusive > limits.inconclusiveLimit) phase = 'Inconclusive';
  if (c.consecutiveError > limits.consecutiveErrorLimit) phase = 'Error';
  return phase;
}

/**
 * A condition from the small subset of Argo's expression language the conformance table uses: `true`, `false`,
 * `result`, `result[i]`, `isNaN(result[i])`, a number, and one comparison (==, !=, <, <=, >, >=) between two of them.
 * An unknown name, an index into a nil or empty result, or a non-boolean answer throws, as evaluation errors do in Argo.
 */
export function compileCondition(expr: string): Condition {
  const term = (t: string, result: unknown): unknown => {
    const s = t.trim();
    if (s === 'true') return true;
    if (s === 'false') return false;
    if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
    if (s === 'result') return result;
    let m = /^result\[(\d+)\]$/.exec(s);
    if (m) {
      if (!Array.isArray(result) || Number(m[1]) >= result.length) throw new Error(`index out of range: ${m[1]}`);
      return result[Number(m[1])];
    }
    m = /^isNaN\((.+)\)$/.exec(s);
    if (m) return Number.isNaN(term(m[1] as string, result) as number);
    throw new Error(`unknown name ${s.split(/[^A-Za-z0-9_]/)[0]}`);
  };
  return (result) => {
    const m = /^(.+?)\s*(==|!=|<=|>=|<|>)\s*(.+)$/.exec(expr.trim());
    let out: unknown;
    if (!m) out = term(expr, result);
    else {
      const a = term(m[1] as string, result) as number;
      const b = term(m[3] as string, result) as number;
      const op = m[2];
      out = op === '==' ? a === b : op === '!=' ? a !== b : op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
    }
    if (typeof out !== 'boolean') throw new Error(`expected bool, but got ${typeof out === 'number' ? (Number.isInteger(out) ? 'int' : 'float64') : typeof out}`);
    return out;
  };
}
