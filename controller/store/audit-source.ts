/**
 * Where the API finds the audit checkpoints of the service it serves: GET /v1/audit/checkpoints and
 * GET /v1/audit/key ask `auditSourceOf(service)`. `ringmaster serve` attaches its audit store handle to the
 * controller it runs (`attachAuditSource(controller, store)`); a service without one (tests, the simulator)
 * answers those routes with 404. A `Store` is an AuditSource.
 */
import type { AuditCheckpoint, AuditKeyInfo } from './audit-key';

export interface AuditExport {
  key: AuditKeyInfo | null;
  head: { seq: number; hash: string; at: string } | null;
  checkpoints: AuditCheckpoint[];
}

export interface AuditSource {
  auditExport(): AuditExport;
  auditKey(): AuditKeyInfo | undefined;
}

const sources = new WeakMap<object, AuditSource>();

export function attachAuditSource(service: object, source: AuditSource): void {
  sources.set(service, source);
}

export function auditSourceOf(service: object): AuditSource | undefined {
  return sources.get(service);
}
