/**
 * A thin gRPC client for the Milvus proxy, speaking the wire types directly (see proto.ts).
 * Every method maps to one RPC; nothing here knows about migrations. Write RPCs are grouped at the
 * end of the class so the read-only guarantee for sources is easy to audit (see ReadOnlyMilvus).
 */
import { format } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { UserError } from '../../util/errors.js';
import { logger } from '../../util/logger.js';
import { BufferPool } from './buffer-pool.js';
import { type Endpoint, parseEndpoint } from './endpoint.js';
import {
  type ErrorKind,
  grpcKind,
  isPermissionDenied,
  kindOf,
  MilvusError,
  type MilvusStatus,
  statusError,
} from './errors.js';
import { framedLength, frameInPlace, withFrameRoom } from './grpc-frame.js';
import { releaserOf } from './grpc-replies.js';
import { decode, encode, root, SERVICE } from './proto.js';
import type * as T from './types.js';
import {
  encodeInsert,
  parseMutationResult,
  parseQueryResults,
  type RawMutationResult,
  type RawQueryReply,
} from './wire.js';

// grpc-js prints its own errors (a server's GOAWAY for "excess pings", a lost subchannel …) as plain
// text on stderr, between our structured lines: they go into the log instead, as warnings.
grpc.setLogger({
  error: (...args: unknown[]) => logger.warn({ component: 'grpc-js' }, format(...args)),
  info: (...args: unknown[]) => logger.debug({ component: 'grpc-js' }, format(...args)),
  debug: (...args: unknown[]) => logger.debug({ component: 'grpc-js' }, format(...args)),
});

export interface Credentials {
  username?: string;
  password?: string;
  token?: string;
  caPem?: Buffer;
  certPem?: Buffer;
  keyPem?: Buffer;
}

export interface ConnectOptions {
  endpoint: string;
  database: string;
  credentials?: Credentials;
  tls?: { serverName?: string; insecureSkipVerify?: boolean };
  /** Which side this is, for messages: "source" or "target". */
  side: string;
  /** Deadline of one RPC in milliseconds. */
  timeoutMs?: number;
  /** Refuse every RPC that is not a read: sources are read-only to us. */
  readOnly?: boolean;
}

/** One privilege of a role on an object (SelectGrant / OperatePrivilege). */
export interface Grant {
  /** Global, Collection, User, … */
  object: string;
  objectName: string;
  database: string;
  privilege: string;
}

/** The only RPCs a read-only (source) client may send. */
export const READ_RPCS = new Set([
  'GetVersion',
  'Connect',
  'ListDatabases',
  'ShowCollections',
  'DescribeCollection',
  'ShowPartitions',
  'DescribeIndex',
  'GetLoadState',
  'Query',
  'DescribeAlias',
  'ListAliases',
  'GetReplicas',
  'DescribeDatabase',
  'SelectRole',
  'SelectGrant',
  'SelectUser',
  'ListCredUsers',
  'ListPrivilegeGroups',
]);

/** What getVersion reports for the embedded Milvus Lite, which has no GetVersion. */
export const EMBEDDED_LITE_VERSION = 'milvus-lite-embedded';

const MAX_MESSAGE = 512 * 1024 * 1024;
/**
 * Attempts of a read RPC whose connection failed (see MilvusClient.call): waits of 0.25 to 4 s,
 * about 8 s in all, so that a proxy or server gone for a few seconds (a restart behind a load
 * balancer) does not fail a verification whose copy already succeeded (seen in the fault suite).
 */
const READ_ATTEMPTS = 6;
/** Bytes a server may send before we acknowledge them: two pages, so a reply streams without stops. */
const FLOW_CONTROL_WINDOW = 32 * 1024 * 1024;
/** A silent connection is pinged after this long and dropped when no answer comes. */
const KEEPALIVE_MS = 30_000;
const KEEPALIVE_TIMEOUT_MS = 20_000;
const service = root.lookupService(SERVICE);

export class MilvusClient {
  readonly endpoint: Endpoint;
  readonly database: string;
  readonly side: string;
  private readonly client: grpc.Client;
  private readonly metadata: grpc.Metadata;
  private readonly timeoutMs: number;
  private readonly user: string | undefined;
  /** Where the copy's insert requests are joined: reused, see BufferPool. */
  private readonly joinBuffers = new BufferPool();
  readonly readOnly: boolean;

  constructor(opts: ConnectOptions) {
    this.endpoint = parseEndpoint(opts.endpoint, opts.side);
    this.database = opts.database;
    this.side = opts.side;
    this.readOnly = Boolean(opts.readOnly);
    // MILVUS_MIGRATE_CALL_TIMEOUT_MS: tests make stalls fail fast; a user may raise it for slow links.
    this.timeoutMs = opts.timeoutMs ?? (Number(process.env.MILVUS_MIGRATE_CALL_TIMEOUT_MS) || 120_000);
    const c = opts.credentials ?? {};
    this.user = c.username;
    const wantsTls = this.endpoint.tls || Boolean(c.caPem || c.certPem);
    if ((c.certPem && !c.keyPem) || (!c.certPem && c.keyPem)) {
      throw new UserError(
        `${opts.side} Secret has only one of tls.crt and tls.key: a client certificate needs both`,
        'InvalidSecret',
      );
    }
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': MAX_MESSAGE,
      'grpc.max_send_message_length': MAX_MESSAGE,
      'grpc.keepalive_time_ms': KEEPALIVE_MS,
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
      'grpc.keepalive_permit_without_calls': 1,
      // HTTP/2's default 64 KB window makes the server stop every 64 KB of a 16 MB page until a
      // WINDOW_UPDATE comes back: measured 15 % more server CPU and 30 % more of ours per page.
      'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW,
    };
    if (opts.tls?.serverName) channelOptions['grpc.ssl_target_name_override'] = opts.tls.serverName;
    const creds = wantsTls
      ? grpc.credentials.createSsl(
          c.caPem ?? null,
          c.keyPem ?? null,
          c.certPem ?? null,
          opts.tls?.insecureSkipVerify
            ? { checkServerIdentity: () => undefined, rejectUnauthorized: false }
            : {},
        )
      : grpc.credentials.createInsecure();
    this.client = new grpc.Client(this.endpoint.address, creds, channelOptions);
    this.metadata = new grpc.Metadata();
    const secret = c.token ?? (c.username !== undefined ? `${c.username}:${c.password ?? ''}` : undefined);
    const authorization = secret === undefined ? undefined : Buffer.from(secret).toString('base64');
    if (authorization !== undefined) this.metadata.set('authorization', authorization);
    this.metadata.set('dbname', this.database);
  }

  close(): void {
    this.client.close();
  }

  /** Calls one RPC; throws MilvusError on a gRPC failure or a non-success status. */
  async call<Res>(method: string, request: object, opts: { timeoutMs?: number } = {}): Promise<Res> {
    // Reads are idempotent: a connection lost or refused for a moment (a proxy restarting, a
    // GOAWAY, a reset) is tried again a few times here, so that every caller (planning, shape,
    // verification) survives a blip. Longer outages are the copy's retry policy (engine/retry.ts).
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.callOnce<Res>(method, request, opts);
      } catch (err) {
        if (attempt >= READ_ATTEMPTS || !READ_RPCS.has(method) || !isBlip(err)) throw err;
        const waitMs = Math.round(250 * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5));
        logger.warn(
          { side: this.side, rpc: method, attempt, waitMs, err: (err as Error).message },
          'a read could not reach the server: trying again',
        );
        await new Promise((r) => setTimeout(r, waitMs));
      }
    }
  }

  private async callOnce<Res>(method: string, request: object, opts: { timeoutMs?: number }): Promise<Res> {
    const m = service.methods[method];
    if (!m) throw new Error(`unknown Milvus RPC ${method}`);
    const reqType = m.requestType.replace(/^\./, '');
    const resType = m.responseType.replace(/^\./, '');
    const path = `/${SERVICE}/${method}`;
    const res = await this.raw(
      path,
      (r: object) => encode(qualified(reqType), r),
      (b: Buffer) => decode<Res>(qualified(resType), b),
      request,
      opts.timeoutMs ?? this.timeoutMs,
    );
    const s = (resType.endsWith('common.Status') ? res : (res as { status?: MilvusStatus }).status) as
      | MilvusStatus
      | undefined;
    const err = statusError(method, s);
    if (err) throw err;
    return res;
  }

  /** Raw unary call with caller-supplied (de)serializers: used by the byte-passthrough mover. */
  raw<Req, Res>(
    path: string,
    serialize: (r: Req) => Buffer,
    deserialize: (b: Buffer) => Res,
    request: Req,
    timeoutMs: number,
  ): Promise<Res> {
    const method = path.split('/').pop() ?? path;
    const refused = this.refusal(method);
    if (refused) return Promise.reject(refused);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        path,
        serialize,
        deserialize,
        request,
        this.metadata,
        { deadline: Date.now() + timeoutMs },
        (err, value) => {
          if (err) reject(this.translate(method, err));
          else resolve(value as Res);
        },
      );
    });
  }

  /**
   * A unary call of the copy's bulk path (Query, Insert): `request` is the encoded message as parts
   * (an InsertRequest is its header plus views of the query reply's columns), joined once here
   * because grpc-js sends one buffer; the reply is handed to `deserialize` as grpc-js received it.
   */
  private bulk<Res>(method: string, request: Buffer[], deserialize: (b: Buffer) => Res): Promise<Res> {
    const path = `/${SERVICE}/${method}`;
    if (request.length === 1)
      return this.raw(path, () => request[0]!, deserialize, undefined, this.timeoutMs);
    let length = 0;
    for (const part of request) length += part.length;
    const scratch = this.joinBuffers.take(framedLength(length));
    // Joined behind room for the frame header, which grpc-js then fills in place (grpc-frame.ts).
    const joined = withFrameRoom(scratch, length);
    let at = 0;
    for (const part of request) at += part.copy(joined, at);
    // The socket may send straight from the scratch, so it is used again only after an answer: the
    // server read the whole message. After a failure (a deadline, a lost connection) part of it may
    // still wait in a socket's queue; reused, a retry's rows would overwrite bytes the server might
    // yet read as the first attempt's. So then it is left to the garbage collector, which frees it
    // only after the socket let go of it.
    return this.raw(path, () => joined, deserialize, undefined, this.timeoutMs).then(
      (res) => {
        this.joinBuffers.give(scratch);
        return res;
      },
      (err: unknown) => {
        if (!frameInPlace) this.joinBuffers.give(scratch);
        throw err;
      },
    );
  }

  /** Why `method` must not be sent: the source is read-only to us. */
  private refusal(method: string): Error | undefined {
    if (!this.readOnly || READ_RPCS.has(method)) return undefined;
    return new Error(
      `refusing to send ${method} to the read-only ${this.side}: this is a bug, please report it`,
    );
  }

  /**
   * gRPC failures become typed errors (see ErrorKind) whose messages say what is wrong and what to
   * do; no credentials in them. grpc-js says neither the kind nor whether the request had gone out:
   * both are inferred from its status and wording (grpcJsKind), in this one place.
   */
  private translate(
    method: string,
    err: Pick<grpc.ServiceError, 'code' | 'details' | 'message'>,
  ): MilvusError {
    const where = `${this.side} ${this.endpoint.address}`;
    // grpc-js wraps the cause in boilerplate and OpenSSL errors span lines: keep the cause only.
    const details = (err.details || err.message)
      .replace(/^No connection established\. Last error: (Error: )?/, '')
      .replace(/[0-9A-F]+:error:[0-9A-F]+:SSL routines:[^:]*:([^:]+):\S*/g, '$1')
      .replace(/\.?\s*Resolution note:\s*$/, '')
      .replace(/ \(\d{4}-\d\d-\d\dT[\d:.]+Z\)/g, '')
      .replace(/\s+/g, ' ')
      .trim();
    const { kind, ambiguous } = grpcJsKind(err.code, details);
    let msg: string;
    switch (kind) {
      case 'tls':
        msg = `TLS with the ${where} failed (${details}): check https:// vs plain host:port in the endpoint and the CA in the Secret (ca.crt)`;
        break;
      case 'protocol':
        msg = `the ${where} did not speak plain gRPC (${details}): if the server uses TLS write the endpoint as https://host:port; check it is a Milvus gRPC port (usually 19530)`;
        break;
      case 'connect':
        if (/^Failed to connect\b/.test(details) && !this.endpoint.tls) {
          // The TCP connection was accepted (refusals say ECONNREFUSED) but no HTTP/2 session came
          // up: typically a TLS server reached with a plain endpoint.
          msg = `the ${where} did not complete a plain gRPC connection (${details}): if the server uses TLS write the endpoint as https://host:port; otherwise check it is a Milvus gRPC port (usually 19530) and that this machine or pod can reach it`;
        } else {
          msg = `cannot reach the ${where} (${details}): check the endpoint, that the server runs and that this machine or pod can reach it`;
        }
        break;
      case 'dropped-after-send':
        msg = `the connection to the ${where} was lost during ${method} (${details}): check that the server is running (restarts, crashes, out of memory) and the network between`;
        break;
      case 'unavailable':
        msg = `the ${where} is not available for ${method} (${details}): check that the server is running and healthy`;
        break;
      case 'auth':
        msg = this.metadata.get('authorization').length
          ? `the ${where} refused the credentials${this.user ? ` of user "${this.user}"` : ''}: check the Secret's username and password (or token)`
          : `the ${where} requires authentication and no credentials were given: add spec.${this.side}.secretRef naming a Secret with username and password (or token)`;
        break;
      case 'permission':
        msg = `the ${where} denied ${method} (permission denied): grant the user the privilege or use another user`;
        break;
      case 'deadline':
        msg = `the ${where} did not answer ${method} in time: check the server's health and the network`;
        break;
      case 'unimplemented':
        msg = `the ${where} does not implement ${method}: the server is too old for this operation`;
        break;
      case 'too-large':
        msg = `${method} on the ${where} exceeded a message size limit (${details})`;
        break;
      default:
        msg = `${method} on the ${where} failed: ${details}`;
    }
    return new MilvusError(msg, method, kind, { grpcCode: err.code, ambiguous });
  }

  // ---- read RPCs -------------------------------------------------------------------------------

  /**
   * The version the server reports. The embedded Milvus Lite (PyPI milvus-lite 2.4/2.5) answers
   * GetVersion with UNIMPLEMENTED but implements Connect, which no Milvus without GetVersion (< 2.1)
   * has: it is reported as EMBEDDED_LITE_VERSION.
   */
  async getVersion(): Promise<string> {
    try {
      const r = await this.call<T.GetVersionResponse>('GetVersion', {});
      return r.version;
    } catch (err) {
      if (kindOf(err) !== 'unimplemented') throw err;
      try {
        await this.call('Connect', {
          client_info: { sdk_type: 'milvus-migrate', sdk_version: '', host: '', user: '', local_time: '' },
        });
      } catch {
        throw err;
      }
      return EMBEDDED_LITE_VERSION;
    }
  }

  async listDatabases(): Promise<string[]> {
    const r = await this.call<T.ListDatabasesResponse>('ListDatabases', {});
    return r.db_names;
  }

  async showCollections(): Promise<string[]> {
    const r = await this.call<T.ShowCollectionsResponse>('ShowCollections', { db_name: this.database });
    return r.collection_names;
  }

  describeCollection(name: string): Promise<T.DescribeCollectionResponse> {
    return this.call<T.DescribeCollectionResponse>('DescribeCollection', {
      db_name: this.database,
      collection_name: name,
    });
  }

  /** Partition names; ['_default'] where the server has no partitions to show (embedded Milvus Lite). */
  async showPartitions(collection: string): Promise<string[]> {
    try {
      const r = await this.call<T.ShowPartitionsResponse>('ShowPartitions', {
        db_name: this.database,
        collection_name: collection,
      });
      return r.partition_names;
    } catch (err) {
      if (kindOf(err) === 'unimplemented') return ['_default'];
      throw err;
    }
  }

  async describeIndexes(collection: string): Promise<T.IndexDescription[]> {
    try {
      const r = await this.call<T.DescribeIndexResponse>('DescribeIndex', {
        db_name: this.database,
        collection_name: collection,
        index_name: '',
      });
      return r.index_descriptions;
    } catch (err) {
      // "index not found" is how servers say a collection has no index.
      if (
        err instanceof MilvusError &&
        (err.kind === 'not-found' || /index not (found|exist)/i.test(err.message))
      )
        return [];
      throw err;
    }
  }

  /** Aliases of a collection; [] where the server does not implement ListAliases (Milvus 2.3). */
  async listAliases(collection: string): Promise<string[]> {
    try {
      const r = await this.call<{ aliases: string[] }>('ListAliases', {
        db_name: this.database,
        collection_name: collection,
      });
      return r.aliases ?? [];
    } catch (err) {
      if (
        err instanceof MilvusError &&
        (err.kind === 'unimplemented' ||
          // A read-only role lacks the privilege on 2.3; DescribeCollection lists aliases there.
          isPermissionDenied(err) ||
          /unimplemented|not implement|unknown method/i.test(err.message))
      )
        return [];
      throw err;
    }
  }

  /** Replicas a loaded collection has (count and resource groups); [] where the server will not say. */
  async getReplicas(collectionID: string): Promise<{ resource_group_name: string }[]> {
    try {
      const r = await this.call<{ replicas: { resource_group_name: string }[] }>('GetReplicas', {
        collectionID,
        db_name: this.database,
      });
      return r.replicas ?? [];
    } catch (err) {
      if (err instanceof MilvusError && (err.kind === 'unimplemented' || isPermissionDenied(err))) return [];
      throw err;
    }
  }

  /** A database's properties; undefined where DescribeDatabase is not implemented (Milvus 2.3). */
  async describeDatabase(name: string): Promise<T.KeyValue[] | undefined> {
    try {
      const r = await this.call<{ properties: T.KeyValue[] }>('DescribeDatabase', { db_name: name });
      return r.properties ?? [];
    } catch (err) {
      if (err instanceof MilvusError && err.kind === 'unimplemented') return undefined;
      throw err;
    }
  }

  async getLoadState(collection: string): Promise<number> {
    const r = await this.call<T.GetLoadStateResponse>('GetLoadState', {
      db_name: this.database,
      collection_name: collection,
    });
    return r.state;
  }

  /**
   * Strong consistency by default (see everything written before the call; costs one time tick,
   * about 200 ms, per call). With `guaranteeTs` the server only waits until that hybrid timestamp
   * is visible, which after the first call is immediate: how the copy reads page after page.
   */
  query(req: T.QueryRequestInput): Promise<T.QueryResults> {
    return this.call<T.QueryResults>('Query', this.queryRequest(req));
  }

  /** Query whose reply columns stay encoded (see wire.ts): the copy's read path. */
  async queryRaw(req: T.QueryRequestInput): Promise<RawQueryReply> {
    const res = await this.bulk('Query', [encode('QueryRequest', this.queryRequest(req))], (b: Buffer) => {
      const reply = parseQueryResults(b);
      reply.release = releaserOf(b);
      return reply;
    });
    const err = statusError('Query', res.status);
    if (err) {
      res.release?.();
      throw err;
    }
    return res;
  }

  private queryRequest(req: T.QueryRequestInput): object {
    const { params, guaranteeTs, ...rest } = req;
    return {
      db_name: this.database,
      use_default_consistency: false,
      ...(guaranteeTs === undefined
        ? { consistency_level: 0 }
        : { consistency_level: 4, guarantee_timestamp: guaranteeTs.toString() }),
      ...rest,
      query_params: Object.entries(params ?? {}).map(([key, value]) => ({ key, value: String(value) })),
    };
  }

  /** count(*): excludes deleted rows, counts duplicate keys. Strong unless `guaranteeTs` is given. */
  async count(
    collection: string,
    expr = '',
    partitions: string[] = [],
    guaranteeTs?: bigint,
  ): Promise<number> {
    const r = await this.query({
      collection_name: collection,
      expr,
      output_fields: ['count(*)'],
      partition_names: partitions,
      guaranteeTs,
    });
    const f = r.fields_data[0];
    const v = f?.scalars?.long_data?.data?.[0];
    if (v === undefined)
      throw new MilvusError(`count(*) on ${collection} returned no value`, 'Query', 'server-error');
    return Number(v);
  }

  // ---- write RPCs (never called on a source: see ReadOnlyMilvus) -------------------------------

  createCollection(req: {
    collection_name: string;
    schema: Buffer;
    shards_num: number;
    consistency_level: number;
    properties: T.KeyValue[];
    num_partitions?: string | number;
  }): Promise<MilvusStatus> {
    return this.call('CreateCollection', { db_name: this.database, ...req });
  }

  createPartition(collection: string, partition: string): Promise<MilvusStatus> {
    return this.call('CreatePartition', {
      db_name: this.database,
      collection_name: collection,
      partition_name: partition,
    });
  }

  createIndex(
    collection: string,
    field: string,
    indexName: string,
    params: T.KeyValue[],
  ): Promise<MilvusStatus> {
    return this.call('CreateIndex', {
      db_name: this.database,
      collection_name: collection,
      field_name: field,
      index_name: indexName,
      extra_params: params,
    });
  }

  createAlias(collection: string, alias: string): Promise<MilvusStatus> {
    return this.call('CreateAlias', { db_name: this.database, collection_name: collection, alias });
  }

  /** `replicaNumber`/`resourceGroups` unset: the server's (or the collection's) own default. */
  loadCollection(
    collection: string,
    opts: { replicaNumber?: number; resourceGroups?: string[] } = {},
  ): Promise<MilvusStatus> {
    return this.call('LoadCollection', {
      db_name: this.database,
      collection_name: collection,
      ...(opts.replicaNumber ? { replica_number: opts.replicaNumber } : {}),
      ...(opts.resourceGroups?.length ? { resource_groups: opts.resourceGroups } : {}),
    });
  }

  /** Role names (the built-in admin and public included). */
  async selectRoles(): Promise<string[]> {
    const r = await this.call<{ results: { role: { name: string } }[] }>('SelectRole', {
      include_user_info: false,
    });
    return (r.results ?? []).map((x) => x.role.name);
  }

  /** Every grant of a role: object type, object name, database, privilege. */
  async selectGrants(role: string): Promise<Grant[]> {
    const r = await this.call<{
      entities: {
        object: { name: string };
        object_name: string;
        db_name: string;
        grantor: { privilege: { name: string } };
      }[];
    }>('SelectGrant', { entity: { role: { name: role } } });
    return (r.entities ?? []).map((e) => ({
      object: e.object?.name ?? '',
      objectName: e.object_name,
      database: e.db_name,
      privilege: e.grantor?.privilege?.name ?? '',
    }));
  }

  /** User names (root included). */
  async listUsers(): Promise<string[]> {
    const r = await this.call<{ usernames: string[] }>('ListCredUsers', {});
    return r.usernames ?? [];
  }

  /** The roles of a user, or undefined when there is no such user. */
  async userRoles(name: string): Promise<string[] | undefined> {
    const r = await this.call<{ results: { user: { name: string }; roles: { name: string }[] }[] }>(
      'SelectUser',
      { user: { name }, include_role_info: true },
    );
    const u = (r.results ?? []).find((x) => x.user?.name === name);
    return u ? (u.roles ?? []).map((x) => x.name) : undefined;
  }

  /** Milvus takes the password base64-encoded; it is never logged (call() logs no request bodies). */
  createUser(name: string, password: string): Promise<MilvusStatus> {
    return this.call('CreateCredential', {
      username: name,
      password: Buffer.from(password).toString('base64'),
    });
  }

  addUserToRole(user: string, role: string): Promise<MilvusStatus> {
    return this.call('OperateUserRole', { username: user, role_name: role, type: 0 });
  }

  /** Privilege groups (Milvus 2.5+) with their privileges. */
  async listPrivilegeGroups(): Promise<{ name: string; privileges: string[] }[]> {
    const r = await this.call<{ privilege_groups: { group_name: string; privileges: { name: string }[] }[] }>(
      'ListPrivilegeGroups',
      {},
    );
    return (r.privilege_groups ?? []).map((g) => ({
      name: g.group_name,
      privileges: (g.privileges ?? []).map((p) => p.name),
    }));
  }

  createPrivilegeGroup(name: string): Promise<MilvusStatus> {
    return this.call('CreatePrivilegeGroup', { group_name: name });
  }

  addPrivilegesToGroup(name: string, privileges: string[]): Promise<MilvusStatus> {
    return this.call('OperatePrivilegeGroup', {
      group_name: name,
      privileges: privileges.map((p) => ({ name: p })),
      type: 0, // AddPrivilegesToGroup
    });
  }

  createRole(name: string): Promise<MilvusStatus> {
    return this.call('CreateRole', { entity: { name } });
  }

  grant(role: string, g: Grant): Promise<MilvusStatus> {
    return this.call('OperatePrivilege', {
      entity: {
        role: { name: role },
        object: { name: g.object },
        object_name: g.objectName,
        db_name: g.database,
        grantor: { privilege: { name: g.privilege } },
      },
      type: 0, // Grant
    });
  }

  createDatabase(name: string, properties: T.KeyValue[]): Promise<MilvusStatus> {
    return this.call('CreateDatabase', { db_name: name, properties });
  }

  insert(req: {
    collection_name: string;
    partition_name?: string;
    fields_data: T.FieldData[];
    num_rows: number;
  }): Promise<T.MutationResult> {
    return this.call('Insert', { db_name: this.database, ...req });
  }

  /** Insert, or replace the rows with the same primary keys (Milvus 2.3+): sync's changed rows. */
  upsert(req: {
    collection_name: string;
    partition_name?: string;
    fields_data: T.FieldData[];
    num_rows: number;
  }): Promise<T.MutationResult> {
    return this.call('Upsert', { db_name: this.database, ...req });
  }

  /**
   * An InsertRequest of pre-encoded FieldData columns (see wire.ts), for insertEncoded: encoded once,
   * as parts that view the columns' bytes, it is sent (and retried) as is.
   */
  encodeInsert(req: {
    collection_name: string;
    partition_name?: string;
    num_rows: number;
    columns: Buffer[];
  }): Buffer[] {
    const { columns, ...header } = req;
    return encodeInsert({ db_name: this.database, ...header }, columns);
  }

  /** Sends an InsertRequest made by encodeInsert: the copy's write path. */
  async insertEncoded(request: Buffer[]): Promise<RawMutationResult> {
    const res = await this.bulk('Insert', request, parseMutationResult);
    const err = statusError('Insert', res.status);
    if (err) throw err;
    return res;
  }

  /** Deletes every row matching `expr` (Milvus 2.3: a primary key `in` list): the repair path's. */
  deleteKeys(collection: string, expr: string, partition?: string): Promise<T.MutationResult> {
    return this.call('Delete', {
      db_name: this.database,
      collection_name: collection,
      expr,
      ...(partition ? { partition_name: partition } : {}),
    });
  }

  dropCollection(collection: string): Promise<MilvusStatus> {
    return this.call('DropCollection', { db_name: this.database, collection_name: collection });
  }
}

/**
 * The kind of a grpc-js failure, and whether the request may have run. grpc-js reports neither:
 * its status code says most, and for UNAVAILABLE its own wording tells a connection that never came
 * up (nothing sent: safe to send again) from one lost during the call (ambiguous).
 */
export function grpcJsKind(code: number, details: string): { kind: ErrorKind; ambiguous: boolean } {
  if (code === grpc.status.UNAVAILABLE) {
    if (/handshake|ssl|tls|certificate|wrong version number|packet length/i.test(details))
      return { kind: 'tls', ambiguous: false };
    if (/protocol error|http2|frame/i.test(details)) return { kind: 'protocol', ambiguous: true };
    if (
      /^Failed to connect\b|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|getaddrinfo|Name resolution|No connection established/i.test(
        details,
      )
    )
      return { kind: 'connect', ambiguous: false };
    return { kind: 'dropped-after-send', ambiguous: true };
  }
  // grpc-js's wording for a stream the server reset with ENHANCE_YOUR_CALM, as a C-core server
  // (Python grpcio: milvus-lite) does to every call on a connection it closes for too many
  // keepalive pings: the connection was cut, not a size limit, and the call may have run.
  if (
    code === grpc.status.RESOURCE_EXHAUSTED &&
    /^Bandwidth exhausted or memory limit exceeded/.test(details)
  )
    return { kind: 'dropped-after-send', ambiguous: true };
  // CANCELLED not of our making (this client cancels no call): a server shutting down cancels the
  // calls in flight (milvus-lite's grpcio on SIGINT, found by the source-restart fault case), and
  // Node reports some connection drops as a stream reset with CANCEL. The call may have run.
  if (code === grpc.status.CANCELLED && !/^Cancelled on client/.test(details))
    return { kind: 'dropped-after-send', ambiguous: true };
  const kind = grpcKind(code);
  // grpc-js cannot say whether a call that timed out or broke had been sent: assume it had.
  return { kind, ambiguous: kind === 'deadline' || kind === 'server-error' || kind === 'cancelled' };
}

/** A failure of the connection, not of the call: worth a quick second try of a read. */
function isBlip(err: unknown): boolean {
  return (
    err instanceof MilvusError &&
    (err.kind === 'connect' || err.kind === 'dropped-after-send' || err.kind === 'unavailable')
  );
}

function qualified(t: string): string {
  return t.replace(/^milvus\.proto\./, '');
}
