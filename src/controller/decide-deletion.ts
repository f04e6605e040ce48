import { heldBy } from './claims.js';
import { incompleteTargets } from './decide-status.js';
import { type Action, DEFAULT_CLEANUP_TIMEOUT_MS, jobsOf, type Observed } from './decide-types.js';

/**
 * Deletion: stop the copy Job, apply spec.deletionPolicy, then let the object go. Time-boxed so an
 * unreachable target or a stuck pod never keeps the object forever: past the time box the
 * finalizer is removed anyway and a Warning Event names what may be left behind.
 */
export function decideDeletion(o: Observed): Action[] {
  const m = o.migration;
  if (!m.finalizer) return [];
  const out: Action[] = [];
  const drop = m.deletionPolicy === 'DropIncomplete' ? incompleteTargets(m) : [];
  const timeout = o.cleanupTimeoutMs ?? DEFAULT_CLEANUP_TIMEOUT_MS;
  const overdue = o.now - (m.deletionTimestamp ?? o.now) >= timeout;
  const jobs = jobsOf(o);
  const held = (o.claims ?? []).filter((c) => heldBy(c, m.uid));
  for (const j of jobs) {
    // Foreground: the Job object stays until its pods are gone, so "no Job" below means no writer.
    if (!j.deleting)
      out.push({
        type: 'deleteJob',
        name: j.name,
        propagation: drop.length || held.length ? 'Foreground' : 'Background',
      });
  }
  // Never drop a collection a copy pod may still be writing to, nor let another migration claim it.
  if ((drop.length || held.length) && !overdue && jobs.length)
    return [...out, { type: 'requeue', afterMs: 2000 }];
  if (drop.length && !overdue) {
    out.push({ type: 'dropTargets', names: drop });
  } else if (drop.length) {
    const msg = `deletionPolicy DropIncomplete: gave up after ${Math.round(timeout / 1000)} s (${jobs.length ? 'the copy pod did not stop' : 'the target did not answer'}); target collection${drop.length > 1 ? 's' : ''} ${drop.map((d) => `"${d}"`).join(', ')} may be left partly written: drop ${drop.length > 1 ? 'them' : 'it'} by hand if unwanted`;
    out.push({ type: 'event', eventType: 'Warning', reason: 'CleanupTimedOut', message: msg });
  }
  if (held.length) out.push({ type: 'releaseClaims', claims: held });
  out.push({ type: 'removeFinalizer' });
  return out;
}
