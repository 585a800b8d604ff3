/**
 * The identity parts of the API that are not authentication itself (auth.ts): what ringctl login needs to know
 * (GET /v1/auth/config, public: it names the issuer and the public client, no secret), and the two-person check
 * the verb routes run before they act (the decision is policy/two-person.ts; this only gathers its facts).
 */
import type express from 'express';
import { twoPersonDecision, type SeparatedVerb } from '../policy/two-person';
import type { ControllerService } from '../runtime/service';
import type { AuthContext } from './auth';
import { ApiError } from './errors';

export function identityRoutes(app: express.Express, auth: AuthContext): void {
  app.get('/v1/auth/config', (_req, res) => {
    const o = auth.oidc?.settings;
    res.json({
      oidc: o ? { issuer: o.issuer, audience: o.audience, clientId: o.clientId ?? null, rolesClaim: o.rolesClaim } : null,
      staticTokens: auth.tokens.size > 0,
    });
  });
}

/**
 * Throws 403 naming the rule when the two-person rule refuses `verb` for `requester`. Rollout verbs pass the
 * rollout's name (a missing rollout is left to the route's own 404); the kill switch release passes none.
 */
export function twoPersonGuard(service: ControllerService, req: { verb: SeparatedVerb; requester: string; rollout?: string }): void {
  const facts = service.separationFacts(req.rollout);
  if (!facts) return;
  const d = twoPersonDecision({ verb: req.verb, requester: req.requester, ...facts, ...(req.rollout === undefined ? {} : { rollout: req.rollout }) });
  if (!d.allowed) throw new ApiError(403, 'forbidden', d.message);
}
