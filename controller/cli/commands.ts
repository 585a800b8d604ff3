/** The list of ringctl verbs. Add a verb by writing commands/<verb>.ts and registering it here. */
import type { Command } from 'commander';
import { registerValidate } from './commands/validate';
import { registerPlan } from './commands/plan';
import { registerApply } from './commands/apply';
import { registerGet } from './commands/get';
import { registerStatus } from './commands/status';
import { registerPause } from './commands/pause';
import { registerResume } from './commands/resume';
import { registerApprove } from './commands/approve';
import { registerAbort } from './commands/abort';
import { registerRollback } from './commands/rollback';
import { registerPromote } from './commands/promote';
import { registerRetry } from './commands/retry';
import { registerUndo } from './commands/undo';
import { registerKill } from './commands/kill';
import { registerUnkill } from './commands/unkill';
import { registerAudit } from './commands/audit';
import { registerKeygen } from './commands/keygen';
import { registerSign } from './commands/sign';
import { registerDiff } from './commands/diff';
import { registerDelete } from './commands/delete';
import { registerHistory } from './commands/history';
import { registerKillswitch } from './commands/killswitch';
import { registerPolicies } from './commands/policies';
import { registerLogin } from './commands/login';
import { registerCompletion } from './commands/completion';

export function registerCommands(program: Command): void {
  // Offline: documents and keys.
  registerValidate(program);
  registerPlan(program);
  registerKeygen(program);
  registerSign(program);
  // Against a controller (--server/--token or RINGMASTER_URL/RINGMASTER_TOKEN).
  registerApply(program);
  registerDiff(program);
  registerDelete(program);
  registerGet(program);
  registerStatus(program);
  registerPause(program);
  registerResume(program);
  registerApprove(program);
  registerAbort(program);
  registerRollback(program);
  registerPromote(program);
  registerRetry(program);
  registerUndo(program);
  registerKill(program);
  registerUnkill(program);
  registerKillswitch(program);
  registerHistory(program);
  registerPolicies(program);
  registerAudit(program);
  registerLogin(program);
  // Shell completion, generated from every verb registered above (keep it last).
  registerCompletion(program);
}
