/**
 * What a migration remembers between runs: which target collections it created (only those may be
 * written into again when resuming). The CLI keeps it in a small JSON file; the operator can keep
 * it elsewhere behind the same interface.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { CollectionSelection } from '../api/migration.js';
import { UserError } from '../util/errors.js';

export interface TargetRecord {
  /** "creating" is written before CreateCollection, so a crash right after it still counts as ours. */
  state: 'creating' | 'created';
  endpoint: string;
  database: string;
  sourceName: string;
  /**
   * Counts on both sides when the collection last verified complete. A re-run that finds the same
   * counts leaves the collection alone instead of reading the source again; a failed verification
   * removes the record.
   */
  verified?: { sourceEntities: number; targetEntities: number; at: string };
}

/** A collection kept in sync (spec.sync), by target key: what the next pass starts from. */
export interface SyncRecord {
  /** The bulk copy into this target completed: later runs only run passes. */
  copied: boolean;
  /** Watermark of spec.sync.changedField (decimal); absent: every stamped row on the next pass. */
  watermark?: string;
}

export interface MigrationState {
  targets: Record<string, TargetRecord>;
  sync?: Record<string, SyncRecord>;
  /** The collections spec.collections' patterns stood for when first run (collection-set.ts). */
  selection?: CollectionSelection;
}

export interface StateStore {
  load(): Promise<MigrationState>;
  save(state: MigrationState): Promise<void>;
}

export function defaultStateDir(): string {
  return (
    process.env.MILVUS_MIGRATE_STATE_DIR ??
    join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'milvus-migrate')
  );
}

export class FileStateStore implements StateStore {
  readonly path: string;

  constructor(dir: string, namespace: string, name: string) {
    this.path = join(dir, `${namespace}_${name}.json`);
  }

  async load(): Promise<MigrationState> {
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as MigrationState;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { targets: {} };
      throw err;
    }
  }

  /**
   * Takes the migration's lock (`<state>.lock`, created exclusively): one `run` of a migration at a
   * time on this state dir. A lock left by a process that is gone (killed, crashed) is taken over;
   * one held by a live process refuses with reason StateLocked. Returns the release function.
   */
  lock(): () => void {
    const path = `${this.path}.lock`;
    mkdirSync(dirname(path), { recursive: true });
    const mine: LockOwner = {
      pid: process.pid,
      host: hostname(),
      start: processStart(process.pid),
      nonce: randomBytes(8).toString('hex'),
    };
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeFileSync(fd, JSON.stringify(mine));
        closeSync(fd);
        return () => {
          try {
            if (readLock(path)?.nonce === mine.nonce) unlinkSync(path);
          } catch {
            // gone already
          }
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const held = readLock(path);
      if (held === undefined) continue; // released (or being written) meanwhile: try again
      if (held !== null && lockAlive(held))
        throw new UserError(
          `another "milvus-migrate run" of this migration is running (pid ${held.pid} on ${held.host}, lock ${path}): wait for it to end, or stop it; two runs at once would write the same targets`,
          'StateLocked',
        );
      // Stale (its process is gone, or the file is unreadable): move it aside atomically, so that of
      // two runs taking it over only one does, and check that what was moved is what was judged.
      const aside = `${path}.${process.pid}.${mine.nonce}.stale`;
      try {
        renameSync(path, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const moved = readLock(aside);
      if (held !== null && moved?.nonce !== held.nonce) {
        // Another run took the stale lock over between our read and our rename: put its lock back.
        try {
          linkSync(aside, path);
        } catch {
          // a third one holds it now; ours is refused either way
        }
        unlinkSync(aside);
        throw new UserError(
          `another "milvus-migrate run" of this migration has just started (lock ${path}): wait for it to end`,
          'StateLocked',
        );
      }
      unlinkSync(aside);
    }
    throw new UserError(`could not take the lock ${path}: it keeps changing`, 'StateLocked');
  }

  /** Atomic replace, so a kill mid-write never leaves a torn file. */
  async save(state: MigrationState): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(state, null, 2));
    renameSync(tmp, this.path);
  }
}

interface LockOwner {
  pid: number;
  host: string;
  /** The process' start time (Linux /proc), so that a reused pid is not taken for the lock holder. */
  start?: string;
  nonce: string;
}

/** The lock's owner; null when the file holds no valid owner, undefined when it does not exist. */
function readLock(path: string): LockOwner | null | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const v = JSON.parse(text) as Partial<LockOwner>;
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.nonce === 'string')
      return v as LockOwner;
  } catch {
    // torn or foreign content
  }
  // An empty file is a lock being written right now (created, not yet filled): not stale, unless
  // its writer died between creating and filling it (then it stays empty for good).
  if (text === '' && Date.now() - statSync(path).mtimeMs < 10_000)
    return { pid: -1, host: hostname(), nonce: '' };
  return null;
}

function processStart(pid: number): string | undefined {
  try {
    // Field 22 of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether the lock's process still runs. Another host's process cannot be checked: taken as alive. */
function lockAlive(o: LockOwner): boolean {
  if (o.host !== hostname()) return true;
  if (o.pid === -1) return true;
  try {
    process.kill(o.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const start = processStart(o.pid);
  return o.start === undefined || start === undefined || start === o.start;
}

export class MemoryStateStore implements StateStore {
  constructor(private state: MigrationState = { targets: {} }) {}
  async load(): Promise<MigrationState> {
    return structuredClone(this.state);
  }
  async save(state: MigrationState): Promise<void> {
    this.state = structuredClone(state);
  }
}

export function targetKey(endpoint: string, database: string, name: string): string {
  return `${endpoint}/${database}/${name}`;
}

/**
 * The operator's copy pods: the controller decides once, before the first Job, which target
 * collections are this migration's (those that did not exist yet) and passes the list in. A
 * resumed pod treats exactly those as its own; anything else that exists on the target is refused.
 */
export class FixedStateStore implements StateStore {
  private state: MigrationState;

  constructor(endpoint: string, database: string, ownedTargets: string[]) {
    this.state = { targets: {} };
    for (const name of ownedTargets) {
      this.state.targets[targetKey(endpoint, database, name)] = {
        state: 'created',
        endpoint,
        database,
        sourceName: '',
      };
    }
  }

  async load(): Promise<MigrationState> {
    return structuredClone(this.state);
  }

  async save(state: MigrationState): Promise<void> {
    this.state = structuredClone(state);
  }
}
