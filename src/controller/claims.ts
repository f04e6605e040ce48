/**
 * Claims on target collections: before a MilvusMigration creates or writes anything, the controller
 * claims each of its target collections (endpoint + database + collection) with a Lease in its own
 * namespace whose name is derived from that identity. Creating an object is atomic in the API server
 * (a second create of the same name gets 409 AlreadyExists), so of two MilvusMigrations for one
 * target collection exactly one holds it; the other is refused (reason TargetClaimed) with the
 * holder's name, and re-checks every 30 s. A claim is released when its migration is deleted (after
 * its Jobs are gone); a claim whose holder no longer exists (its finalizer removed by hand) is stale
 * and taken over.
 *
 * The identity is the endpoint as dialled (host:port, host lower-cased, default ports filled in):
 * one server reached under two names (an IP and a host name) is not recognised as one.
 */
import { createHash } from 'node:crypto';
import type { V1Lease } from '@kubernetes/client-node';
import { parseEndpoint } from '../adapters/milvus/endpoint.js';
import { MANAGED_BY, MANAGER } from './job.js';

export const CLAIM_LABEL = 'migration.milvus.io/claim';
export const CLAIM_TARGET_ANNOTATION = 'migration.milvus.io/target';
export const CLAIM_HOLDER_ANNOTATION = 'migration.milvus.io/holder';
export const CLAIM_HOLDER_UID_ANNOTATION = 'migration.milvus.io/holder-uid';

export interface ClaimHolder {
  namespace: string;
  name: string;
  uid: string;
}

/** One target collection of a migration and who holds its claim. */
export interface ObservedClaim {
  /** The target collection name. */
  target: string;
  /** endpoint/database/collection, as keyed. */
  id: string;
  /** The Lease name. */
  lease: string;
  /** Undefined: nobody holds it. */
  holder?: ClaimHolder;
  /** The holder no longer exists: the claim may be taken over. */
  stale?: boolean;
}

export function claimId(endpoint: string, database: string, collection: string): string {
  let address: string;
  try {
    address = parseEndpoint(endpoint, 'target').address.toLowerCase();
  } catch {
    address = endpoint.trim().toLowerCase();
  }
  return `${address}/${database}/${collection}`;
}

export function claimLeaseName(id: string): string {
  return `mmig-claim-${createHash('sha256').update(id).digest('hex').slice(0, 40)}`;
}

export function claimLease(namespace: string, id: string, holder: ClaimHolder): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: claimLeaseName(id),
      namespace,
      labels: { [MANAGED_BY]: MANAGER, [CLAIM_LABEL]: 'target' },
      annotations: {
        [CLAIM_TARGET_ANNOTATION]: id,
        [CLAIM_HOLDER_ANNOTATION]: `${holder.namespace}/${holder.name}`,
        [CLAIM_HOLDER_UID_ANNOTATION]: holder.uid,
      },
    },
    spec: { holderIdentity: `${holder.namespace}/${holder.name}` },
  };
}

/** The holder recorded on a claim Lease (undefined when the Lease is not a valid claim). */
export function claimHolder(l: V1Lease | undefined): ClaimHolder | undefined {
  const a = l?.metadata?.annotations ?? {};
  const full = a[CLAIM_HOLDER_ANNOTATION];
  const uid = a[CLAIM_HOLDER_UID_ANNOTATION];
  if (!full || !uid || !full.includes('/')) return undefined;
  const [namespace, name] = full.split('/') as [string, string];
  return { namespace, name, uid };
}

export const heldBy = (c: ObservedClaim, uid: string) => c.holder?.uid === uid;
