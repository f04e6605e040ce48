/**
 * Every reason a condition, an Event, a CLI status or an error can carry: one CamelCase word,
 * stable, meant for alerts and scripts. This list is the one place they are named: the engine, the
 * controller (decide, conditions, events) and the CLI take a Reason, and docs/troubleshooting.md
 * explains exactly these (test/unit/docs.test.ts).
 */
export const REASONS = [
  // While it runs (Reconciling=True).
  'Planning',
  'Rerun',
  'SpecChanged',
  'JobCreated',
  'Copying',
  'Planned',
  'Copied',
  'ShardsStarted',
  'ShardsResumed',
  'ShardFailed',
  'Verifying',
  'Finishing',
  'Syncing',
  // Done (Ready=True).
  'Verified',
  'Succeeded',
  'CutOver',
  // Stopped on purpose.
  'Suspended',
  'Canceled',
  // Failed (Stalled=True), and the conditions beside the phase.
  'InvalidSpec',
  'InvalidInput',
  'InvalidYAML',
  'InvalidEndpoint',
  'InvalidSecret',
  'SecretNotFound',
  'StateLocked',
  'TargetClaimed',
  'SecretDeleted',
  'SecretChanged',
  'SecretsFound',
  'CredentialsWithoutTLS',
  'TLSVerificationOff',
  'TransportSecure',
  'CrossNamespaceSecret',
  'DuplicateTarget',
  'NoCollectionMatched',
  'TooManyCollections',
  'AuthenticationFailed',
  'PermissionDenied',
  'Unreachable',
  'TargetUnavailable',
  'RateLimited',
  'AmbiguousWrite',
  'TargetNotOwned',
  'SourceTooOld',
  'PlanRefused',
  'SyncRefused',
  'CannotResume',
  'CopyFailed',
  'VerificationFailed',
  'MilvusError',
  'JobFailed',
  'PlanUnreadable',
  'Failed',
  'InternalError',
  // While a migration is deleted.
  'TargetsDropped',
  'CleanupFailed',
  'CleanupTimedOut',
] as const;

export type Reason = (typeof REASONS)[number];

const KNOWN = new Set<string>(REASONS);

export function isReason(s: string | undefined): s is Reason {
  return s !== undefined && KNOWN.has(s);
}

/**
 * A reason read back from a stored status (a condition's reason is a string there), or `fallback`
 * when it is none of ours.
 */
export function reasonOr(s: string | undefined, fallback: Reason): Reason {
  return isReason(s) ? s : fallback;
}
