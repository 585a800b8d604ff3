/**
 * What each sink type sends for an event: the body and headers of one HTTP POST. Pure: no I/O, no clock (the
 * signing time is passed in).
 *
 *   webhook    the event JSON; `X-Ringmaster-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
 *   slack      an incoming-webhook message (text + blocks); the URL is the secret
 *   pagerduty  Events v2: trigger on rollout.halted / rollout.rolling-back / killswitch.engaged, resolve on
 *              rollout.rolled-back / rollout.succeeded / killswitch.released (dedup_key: the rollout, or `killswitch`)
 * Every sink also gets `Idempotency-Key: <event id>`; the id is in every body too.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { NotificationEvent } from '../engine/events';
import type { SinkType } from '../config/serve';

export interface Rendered {
  body: string;
  headers: Record<string, string>;
}

export const SIGNATURE_HEADER = 'X-Ringmaster-Signature';

/** The signature header value of `body` signed at unix second `t`. */
export function signatureHeader(secret: string, t: number, body: string): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/**
 * A receiver's check: the header's v1 is the HMAC of "<t>.<body>" under `secret` (constant-time compare) and t is
 * within `toleranceS` of `nowS` (replays of old deliveries are refused).
 */
export function verifySignature(secret: string, header: string | undefined, body: string, nowS: number, toleranceS = 300): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const t = Number(m[1]);
  if (Math.abs(nowS - t) > toleranceS) return false;
  const want = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(want, Buffer.from(m[2] as string, 'hex'));
}

export function render(type: SinkType, event: NotificationEvent, opts: { secret?: string; nowS: number }): Rendered {
  const headers: Record<string, string> = { 'Idempotency-Key': event.id, 'User-Agent': 'ringmaster-notify' };
  if (type === 'webhook') {
    const body = JSON.stringify(event);
    return { body, headers: { ...headers, 'X-Ringmaster-Event': event.type, [SIGNATURE_HEADER]: signatureHeader(opts.secret ?? '', opts.nowS, body) } };
  }
  if (type === 'slack') return { body: JSON.stringify(slackMessage(event)), headers };
  return { body: JSON.stringify(pagerdutyEvent(event, opts.secret ?? '')), headers };
}

const ICON: Record<NotificationEvent['severity'], string> = { info: ':information_source:', warning: ':warning:', critical: ':rotating_light:' };

function subject(e: NotificationEvent): string {
  if (e.rollout === null) return `Kill switch ${e.type === 'killswitch.engaged' ? 'engaged' : 'released'} by ${e.actor}`;
  const ring = e.ringName ?? (e.ring === null ? '' : `ring ${e.ring}`);
  return `${e.type} ${e.rollout} (${e.channel ?? ''} ${e.version ?? ''}${ring ? `, ${ring}` : ''})`;
}

export function slackMessage(e: NotificationEvent): { text: string; blocks: unknown[] } {
  const text = `${ICON[e.severity]} ${subject(e)}: ${e.reason}`;
  const fields = [`*Event:* ${e.type}`, `*Actor:* ${e.actor}`, `*Time:* ${e.time}`, `*Id:* ${e.id}`];
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text } },
    { type: 'section', fields: fields.map((f) => ({ type: 'mrkdwn', text: f })) },
  ];
  for (const ev of e.evidence ?? []) {
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: `*${ev.metric}* ${ev.result}: candidate ${fmt(ev.candidateRate)} vs baseline ${fmt(ev.baselineRate)} /host-h; statistic ${fmt(ev.statistic)} vs boundary ${fmt(ev.boundary)}` },
    });
  }
  return { text, blocks };
}

const TRIGGER = new Set(['rollout.halted', 'rollout.rolling-back', 'killswitch.engaged', 'preflight.failed']);
const RESOLVE = new Set(['rollout.rolled-back', 'rollout.succeeded', 'killswitch.released']);

/** PagerDuty Events v2: a page per rollout (dedup by rollout) and one for the kill switch; info events are `trigger` at info severity. */
export function pagerdutyEvent(e: NotificationEvent, routingKey: string): Record<string, unknown> {
  const dedup = e.rollout === null ? 'ringmaster:killswitch' : `ringmaster:rollout:${e.rollout}`;
  if (RESOLVE.has(e.type)) return { routing_key: routingKey, event_action: 'resolve', dedup_key: dedup };
  const severity = TRIGGER.has(e.type) ? (e.severity === 'critical' ? 'critical' : 'warning') : 'info';
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: dedup,
    payload: { summary: `${subject(e)}: ${e.reason}`.slice(0, 1024), source: 'ringmaster', severity, timestamp: e.time, component: e.channel ?? 'killswitch', class: e.type, custom_details: e },
  };
}

function fmt(n: number | null): string {
  return n === null ? 'n/a' : Number(n.toPrecision(4)).toString();
}

/** Whether a sink type sends an event type at all: PagerDuty only pages and resolves (other events would open incidents). */
export function sinkTypeSends(type: SinkType, event: string): boolean {
  return type !== 'pagerduty' || TRIGGER.has(event) || RESOLVE.has(event);
}
