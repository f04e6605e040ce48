/**
 * The operator's side of collection patterns (`name: "*"`, globs, `exclude`): the controller
 * expands them once, by listing the source's collections (a read: the source client refuses
 * anything else), and records the set in status.collectionSelection. Every later reconcile works
 * on the migration with its patterns replaced by that set (claims, owned targets, the copy pods'
 * spec), so the set cannot change under a migration that is under way; a changed spec.collections
 * or spec.source expands again.
 */
import type { V1Secret } from '@kubernetes/client-node';
import type { MigrationObject } from '../adapters/kubernetes/kube.js';
import { MilvusClient } from '../adapters/milvus/client.js';
import { credentialsFromSecret } from '../api/input.js';
import {
  type CollectionSelection,
  collectionSelection,
  type MilvusMigration,
  milvusMigration,
} from '../api/migration.js';
import { now } from '../api/status.js';
import { applySelection, hasPatterns, newSelection } from '../engine/collection-set.js';

/** The object as reconciles see it: patterns replaced by the recorded set when it still applies. */
export function withRecordedSelection(obj: MigrationObject): MigrationObject {
  const parsed = milvusMigration.safeParse({ ...obj });
  if (!parsed.success || !hasPatterns(parsed.data.spec)) return obj;
  const sel = collectionSelection.safeParse(obj.status?.collectionSelection);
  if (!sel.success) return obj;
  const applied = applySelection(parsed.data, sel.data);
  if (applied === parsed.data) return obj;
  return { ...obj, spec: { ...(obj.spec as object), collections: applied.spec.collections } };
}

/** A new selection from the source's collection list. Throws (UserError when nothing matches). */
export async function expandOnSource(
  m: MilvusMigration,
  getSecret: (namespace: string, name: string) => Promise<V1Secret | undefined>,
): Promise<CollectionSelection> {
  const s = m.spec.source;
  let credentials: ReturnType<typeof credentialsFromSecret> | undefined;
  if (s.secretRef) {
    // The migration's own namespace only.
    const secret = await getSecret(m.metadata.namespace, s.secretRef.name);
    const data: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(secret?.data ?? {})) data[k] = Buffer.from(v, 'base64');
    credentials = credentialsFromSecret(data, `Secret "${s.secretRef.name}"`);
  }
  const client = new MilvusClient({
    side: 'source',
    endpoint: s.endpoint,
    database: s.database,
    ...(credentials ? { credentials } : {}),
    ...(s.tls ? { tls: s.tls } : {}),
    readOnly: true,
    timeoutMs: 15_000,
  });
  try {
    return newSelection(m.spec, await client.showCollections(), now());
  } finally {
    client.close();
  }
}
