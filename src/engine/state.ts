/**
 * What a migration remembers between runs: which target collections it created (only those may be
 * written into again when resuming). The CLI keeps it in a small JSON file; the operator can keep
 * it elsewhere behind the same interface.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

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

export interface MigrationState {
  targets: Record<string, TargetRecord>;
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

  /** Atomic replace, so a kill mid-write never leaves a torn file. */
  async save(state: MigrationState): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(state, null, 2));
    renameSync(tmp, this.path);
  }
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
