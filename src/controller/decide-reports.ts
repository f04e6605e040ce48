/**
 * Conditions decide() keeps on every status it writes, beside the phase: TransportSecure (what the
 * spec exposes on the wire) and SecretsAvailable (Secrets deleted or changed while a Job runs).
 */
import { type Reason, reasonOr } from '../api/reasons.js';
import { withCondition } from './decide-status.js';
import { type Action, jobsOf, type Observed } from './decide-types.js';

export interface TransportWarning {
  reason: 'CredentialsWithoutTLS' | 'TLSVerificationOff';
  message: string;
}

/** Condition type that warns of credentials sent in clear or TLS without verification. */
export const TRANSPORT_CONDITION = 'TransportSecure';

/**
 * What a spec exposes on the wire: credentials of a Secret sent to a plain host:port / http://
 * endpoint (readable on the network path), and TLS whose certificate is not verified.
 */
export function transportWarnings(spec: {
  source: { endpoint: string; secretRef?: { name: string }; tls?: { insecureSkipVerify?: boolean } };
  target: { endpoint: string; secretRef?: { name: string }; tls?: { insecureSkipVerify?: boolean } };
}): TransportWarning[] {
  const out: TransportWarning[] = [];
  for (const side of ['source', 'target'] as const) {
    const c = spec[side];
    const tls = /^https:\/\//i.test(c.endpoint.trim());
    if (c.secretRef && !tls)
      out.push({
        reason: 'CredentialsWithoutTLS',
        message: `the ${side} credentials (Secret "${c.secretRef.name}") are sent to ${c.endpoint} without TLS: anyone on the network path can read them; use an https:// endpoint`,
      });
    if (tls && c.tls?.insecureSkipVerify)
      out.push({
        reason: 'TLSVerificationOff',
        message: `${side}.tls.insecureSkipVerify is true: the ${side} server's certificate is not verified, so a server posing as ${c.endpoint} would ${c.secretRef ? 'receive the credentials and ' : ''}see every row`,
      });
  }
  return out;
}

/**
 * Warns in condition TransportSecure=False (kept on every status written) and one Warning Event per
 * change; the migration runs as specified (a warning, not a refusal).
 */
export function withTransportReport(o: Observed, actions: Action[]): Action[] {
  const m = o.migration;
  if (m.deleting || o.transport === undefined) return actions;
  const prev = m.status.conditions?.find((c) => c.type === TRANSPORT_CONDITION);
  const warn = o.transport;
  if (!warn.length && !prev) return actions;
  const want = warn.length
    ? { status: 'False' as const, reason: warn[0]!.reason, message: warn.map((w) => w.message).join('; ') }
    : {
        status: 'True' as const,
        reason: 'TransportSecure' as const,
        message: 'credentials go only over verified TLS',
      };
  return withCondition(
    o,
    actions,
    TRANSPORT_CONDITION,
    want,
    warn.map((w): Action => ({ type: 'event', eventType: 'Warning', reason: w.reason, message: w.message })),
  );
}

/** Condition type that reports Secrets deleted or changed while a Job runs. */
export const SECRETS_CONDITION = 'SecretsAvailable';

/**
 * A Secret deleted or changed while a Job runs does not fail the migration (its pods hold what they
 * need): the condition SecretsAvailable says so in every status written meanwhile, and an Event is
 * recorded once per change. It turns True again (SecretsFound) once the Secrets are back.
 */
export function withSecretReport(o: Observed, actions: Action[]): Action[] {
  const m = o.migration;
  const cur = m.status;
  if (m.deleting) return actions;
  const prev = cur.conditions?.find((c) => c.type === SECRETS_CONDITION);
  const active = jobsOf(o).some((j) => !j.deleting && !j.complete && !j.failed);
  const list = (ns: string[]) => ns.map((n) => `"${n}"`).join(', ');
  let want:
    | { status: 'True' | 'False'; reason: Reason; message: string; type: 'Normal' | 'Warning' }
    | undefined;
  if (active && o.missingSecrets.length)
    want = {
      status: 'False',
      reason: 'SecretDeleted',
      type: 'Warning',
      message: `Secret ${list(o.missingSecrets)} was deleted while the copy runs: running pods keep the credentials they started with and go on; a pod started later (a retry, a shard, the finalize Job) waits until it exists again in namespace "${m.namespace}"`,
    };
  else if (active && o.changedSecrets?.length)
    want = {
      status: 'True',
      reason: 'SecretChanged',
      type: 'Normal',
      message: `Secret ${list(o.changedSecrets)} changed after the running Job was made: its running pods keep the values they started with; pods started later read the new ones`,
    };
  else if (prev && prev.reason !== 'SecretsFound' && !o.missingSecrets.length)
    want = {
      status: 'True',
      reason: 'SecretsFound',
      type: 'Normal',
      message: 'every Secret named by the spec exists',
    };
  else if (prev)
    want = {
      status: prev.status as 'True' | 'False',
      reason: reasonOr(prev.reason, 'SecretsFound'),
      message: prev.message,
      type: 'Normal',
    };
  if (!want) return actions;
  const w = want;
  const events: Action[] =
    w.reason !== 'SecretsFound' || prev
      ? [{ type: 'event', eventType: w.type, reason: w.reason, message: w.message }]
      : [];
  return withCondition(o, actions, SECRETS_CONDITION, w, events);
}
