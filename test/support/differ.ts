/**
 * An independent differ for migrated collections: every schema element and every row of a source
 * collection against its copy on the target, without any of the engine's own code.
 *
 * Reads go through the official Node SDK's gRPC channel (`promisify(channelPool, 'Query', …)`), so
 * the replies are the protobuf messages as decoded by protobufjs (int64 as strings, bytes as
 * Buffers, float32 widened exactly to a double), and are interpreted here:
 * - Float (and FloatVector elements, Array<Float>): compared as float32 bit patterns, so -0.0 ≠ 0.0
 *   and subnormals are exact. (A NaN's payload is not visible after protobufjs: NaNs compare equal.)
 * - Double: float64 bit patterns. Integers: exact decimal (int64 never goes through a double).
 * - JSON and the dynamic field: parsed here with a lossless parser (big integers stay exact; the SDK
 *   would JSON.parse them into doubles), compared semantically: key order free, 1 == 1.0, -0 ≠ 0.
 * - nulls (valid_data) as nulls, arrays element-wise, sparse vectors as index → float32-bits maps,
 *   binary and float16 vectors as bytes.
 * Rows are read by primary keys: first every key (one query; the collections of the corpus are far
 * below the 16384-row query window, checked), then `pk in [...]` chunks, each of which must return
 * exactly the keys asked for. Nothing relies on the order of results (milvus-lite does not sort).
 * Strong consistency everywhere.
 *
 * Schema differences that a target kind is known not to keep (milvus-lite: descriptions, index
 * names and build parameters, shard count, consistency level, num_partitions, the element
 * max_length of VarChar arrays, aliases in DescribeCollection) are accepted only when the run's
 * status has a warning naming them; every other difference is reported.
 */
import { MilvusClient, promisify } from '@zilliz/milvus2-sdk-node';
import { SDK_CHANNEL_OPTIONS } from './sdk-channel.js';

export interface DiffSide {
  endpoint: string;
  kind: string;
  username?: string;
  password?: string;
  database?: string;
}

export interface DiffRequest {
  source: DiffSide;
  target: DiffSide;
  sourceName: string;
  targetName: string;
  /** The target generated new keys (autoID into a target < 2.6.3): rows compare as a multiset. */
  regeneratedKeys: boolean;
  /** The run's status warnings for this collection. */
  warnings: string[];
}

export interface DiffResult {
  /** Everything that differs and is not an accepted, warned-about loss. Empty = identical. */
  differences: string[];
  /** Accepted known losses (each matched by a status warning). */
  knownLosses: string[];
  sourceRows: number;
  targetRows: number;
}

const QUERY_WINDOW = 16384;
const CHUNK = 100;
const TIMEOUT_MS = 60_000;

// protobufjs objects of the SDK's loader (keepCase, longs: String): dynamic by nature, read field by field.
// biome-ignore lint/suspicious/noExplicitAny: decoded protobuf messages, checked where read
type Raw = Record<string, any>;

function client(s: DiffSide): MilvusClient {
  const c = new MilvusClient({
    address: s.endpoint,
    username: s.username,
    password: s.password,
    database: s.database,
    logLevel: 'error',
    channelOptions: SDK_CHANNEL_OPTIONS,
  });
  // The differ calls the channel pool directly and never awaits the SDK's own Connect: a failure
  // of it would be an unhandled rejection. The differ's calls report an unreachable server.
  c.connectPromise.catch(() => {});
  return c;
}

async function rpc(c: MilvusClient, method: string, req: Raw): Promise<Raw> {
  // The SDK's own unary call on its pool, without its row formatting.
  const pool = (c as unknown as { channelPool: Parameters<typeof promisify>[0] }).channelPool;
  const res: Raw = await promisify(pool, method, req, TIMEOUT_MS);
  const st = res.status ?? res;
  if (st && st.error_code !== undefined && st.error_code !== 'Success' && st.error_code !== 0)
    throw new Error(`${method}: ${st.error_code} ${st.reason}`);
  if (st && st.code !== undefined && st.code !== 0)
    throw new Error(`${method}: code ${st.code} ${st.reason}`);
  return res;
}

// ---------------------------------------------------------------------------------------------
// Canonical values

const dv = new DataView(new ArrayBuffer(8));
// Any NaN is NaN: Milvus 2.3.5 itself changes the payload of stored NaNs (findings F3/F4: a row
// written as 0xffffffffffffffff reads back as 0x7ff8000000000000 once sealed), so no copy can keep
// payloads the source does not.
function f32(x: number): string {
  if (Number.isNaN(x)) return 'f32:NaN';
  dv.setFloat32(0, x, true);
  return `f32:${dv.getUint32(0, true).toString(16).padStart(8, '0')}`;
}
function f64(x: number): string {
  if (Number.isNaN(x)) return 'f64:NaN';
  dv.setFloat64(0, x, true);
  return `f64:${dv.getBigUint64(0, true).toString(16).padStart(16, '0')}`;
}

/** Canonical text of a JSON document, parsed losslessly (see the file comment). */
export function canonicalJson(text: string): string {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (what: string): never => {
    throw new Error(`JSON: ${what} at ${i} in ${text.slice(0, 200)}`);
  };
  const str = (): string => {
    const m = /^"(?:[^"\\]|\\.)*"/su.exec(text.slice(i));
    if (!m) fail('bad string');
    i += m![0].length;
    return JSON.parse(m![0]) as string;
  };
  const num = (): string => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m) fail('bad number');
    i += m![0].length;
    const t = m![0];
    if (/^-?\d+$/.test(t)) return t === '-0' ? 'n-0' : `n${BigInt(t).toString()}`;
    const v = Number(t);
    if (Object.is(v, -0)) return 'n-0';
    if (Number.isInteger(v) && Math.abs(v) < 2 ** 53) return `n${v}`;
    return `n${String(v)}`;
  };
  const value = (): string => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const entries = new Map<string, string>();
      ws();
      if (text[i] === '}') {
        i++;
        return '{}';
      }
      for (;;) {
        ws();
        const k = str();
        ws();
        if (text[i++] !== ':') fail('expected :');
        entries.set(k, value()); // a repeated key: the last one wins, as in Go and Python
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          break;
        } else fail('expected , or }');
      }
      const keys = [...entries.keys()].sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${entries.get(k)}`).join(',')}}`;
    }
    if (c === '[') {
      i++;
      const items: string[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return '[]';
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          break;
        } else fail('expected , or ]');
      }
      return `[${items.join(',')}]`;
    }
    if (c === '"') return JSON.stringify(str());
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return lit;
      }
    }
    return num();
  };
  const out = value();
  ws();
  if (i !== text.length) fail('trailing text');
  return out;
}

function scalarCanon(type: string, v: unknown): string {
  switch (type) {
    case 'Bool':
      return v ? 'true' : 'false';
    case 'Int8':
    case 'Int16':
    case 'Int32':
    case 'Int64':
      return `i${BigInt(String(v)).toString()}`;
    case 'Float':
      return f32(v as number);
    case 'Double':
      return f64(v as number);
    case 'VarChar':
    case 'String':
      return JSON.stringify(v);
    case 'JSON':
      return `json:${canonicalJson(Buffer.from(v as Uint8Array).toString('utf8'))}`;
    default:
      throw new Error(`differ: unknown scalar type ${type}`);
  }
}

/**
 * Timestamptz answered as ISO 8601 text: the instant in microseconds (the offset applied), so
 * that "…T08:00:00+08:00" equals "…T00:00:00Z"; text without an offset stays text.
 */
function instantMicros(text: string): string {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return `text:${JSON.stringify(text)}`;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return `text:${JSON.stringify(text)}`;
  const frac = (m[2] ?? '').padEnd(9, '0');
  return `us:${BigInt(ms) * 1000n + BigInt(frac.slice(0, 6))}${/[1-9]/.test(frac.slice(6)) ? `+${frac.slice(6)}ns` : ''}`;
}

const ELEMENT_OF: Record<string, string> = {
  bool_data: 'Bool',
  int_data: 'Int32',
  long_data: 'Int64',
  float_data: 'Float',
  double_data: 'Double',
  string_data: 'VarChar',
};

/** One column of a query reply as canonical strings, one per row ('null' where valid_data says so). */
export function columnCells(fd: Raw, rows: number): string[] {
  let values: string[];
  if (fd.scalars) {
    const key: string = fd.scalars.data;
    const data: unknown[] = key ? fd.scalars[key].data : [];
    if (key === 'array_data') {
      // An empty array may come as a ScalarField with no data set at all (2.3.5): that is [].
      values = (data as Raw[]).map((el) => {
        const k: string = el.data;
        const items: unknown[] = k ? el[k].data : [];
        return `[${items.map((x) => scalarCanon(ELEMENT_OF[k] ?? 'VarChar', x)).join(',')}]`;
      });
    } else if (key === 'json_data') {
      values = data.map((b) => scalarCanon('JSON', b));
    } else if (key === 'geometry_wkt_data') {
      values = data.map((x) => `wkt:${JSON.stringify(x)}`);
    } else if (key === 'geometry_data') {
      values = data.map((b) => `wkb:${Buffer.from(b as Uint8Array).toString('hex')}`);
    } else if (key === 'timestamptz_data') {
      values = data.map((x) => `us:${BigInt(String(x))}`);
    } else if (fd.type === 'Timestamptz' && key === 'string_data') {
      values = data.map((x) => instantMicros(x as string));
    } else {
      values = data.map((x) => scalarCanon(fd.type, x));
    }
  } else if (fd.vectors) {
    const v = fd.vectors;
    const dim = Number(v.dim);
    const key: string = v.data;
    values = [];
    if (key === 'float_vector') {
      const xs: number[] = v.float_vector.data;
      for (let r = 0; r < xs.length / dim; r++)
        values.push(
          xs
            .slice(r * dim, (r + 1) * dim)
            .map(f32)
            .join(','),
        );
    } else if (key === 'sparse_float_vector') {
      for (const b of v.sparse_float_vector.contents as Buffer[]) {
        const buf = Buffer.from(b);
        const pairs = new Map<number, string>();
        for (let o = 0; o + 8 <= buf.length; o += 8)
          pairs.set(buf.readUInt32LE(o), f32(buf.readFloatLE(o + 4)));
        if (buf.length % 8) throw new Error(`differ: sparse row of ${buf.length} bytes`);
        values.push(
          [...pairs.entries()]
            .sort((a, b) => a[0] - b[0])
            .map(([i, x]) => `${i}:${x}`)
            .join(','),
        );
      }
    } else if (key) {
      // binary, float16, bfloat16, int8 vectors: raw bytes
      const bytesPerRow = key === 'binary_vector' ? dim / 8 : key === 'int8_vector' ? dim : dim * 2;
      const buf = Buffer.from(v[key] as Uint8Array);
      for (let o = 0; o < buf.length; o += bytesPerRow)
        values.push(buf.subarray(o, o + bytesPerRow).toString('hex'));
    }
  } else {
    throw new Error(`differ: field ${fd.field_name} has neither scalars nor vectors`);
  }
  const valid: boolean[] = fd.valid_data ?? [];
  if (!valid.length) {
    if (values.length !== rows)
      throw new Error(`differ: field ${fd.field_name} has ${values.length} of ${rows} rows`);
    return values;
  }
  // Query replies are row-dense (a placeholder where invalid); accept the compact form too.
  const dense = values.length === valid.length;
  let k = 0;
  return valid.map((ok, r) => {
    if (dense) return ok ? values[r]! : 'null';
    return ok ? values[k++]! : 'null';
  });
}

// ---------------------------------------------------------------------------------------------
// Schema

interface SchemaModel {
  collection: Record<string, string>;
  fields: Map<string, Record<string, string>>;
  functions: Map<string, Record<string, string>>;
  partitions: string[];
  indexes: Map<string, { name: string; params: Record<string, string> }>;
  loaded: string;
  aliases: string[];
  partitionKey: boolean;
  pk: { name: string; type: string; autoID: boolean };
  functionOutputs: string[];
  dynamic: boolean;
}

const kv = (list: Raw[] | undefined): Record<string, string> =>
  Object.fromEntries(
    (list ?? []).map((p) => [p.key, p.value]).sort((a, b) => String(a[0]).localeCompare(b[0])),
  );

function defaultCanon(v: Raw | null | undefined): string {
  if (!v?.data) return 'none';
  const key: string = v.data;
  const x = v[key];
  if (key === 'float_data') return f32(x);
  if (key === 'double_data') return f64(x);
  if (key === 'long_data' || key === 'int_data') return `i${BigInt(String(x))}`;
  if (key === 'bytes_data') return `bytes:${Buffer.from(x).toString('hex')}`;
  return `${key}:${JSON.stringify(x)}`;
}

async function schemaOf(c: MilvusClient, name: string): Promise<SchemaModel> {
  const d = await rpc(c, 'DescribeCollection', { collection_name: name });
  const s = d.schema;
  const fields = new Map<string, Record<string, string>>();
  let pk = { name: '', type: '', autoID: false };
  for (const f of s.fields as Raw[]) {
    if (f.is_dynamic || ['RowID', 'Timestamp'].includes(f.name)) continue;
    if (f.is_primary_key) pk = { name: f.name, type: f.data_type, autoID: Boolean(f.autoID) };
    fields.set(f.name, {
      data_type: f.data_type,
      element_type: f.data_type === 'Array' ? f.element_type : '',
      is_primary_key: String(Boolean(f.is_primary_key)),
      autoID: String(Boolean(f.autoID)),
      is_partition_key: String(Boolean(f.is_partition_key)),
      is_clustering_key: String(Boolean(f.is_clustering_key)),
      nullable: String(Boolean(f.nullable)),
      is_function_output: String(Boolean(f.is_function_output)),
      description: f.description ?? '',
      default_value: defaultCanon(f.default_value),
      ...Object.fromEntries(Object.entries(kv(f.type_params)).map(([k, v]) => [`type_params.${k}`, v])),
    });
  }
  const functions = new Map<string, Record<string, string>>();
  const functionOutputs: string[] = [];
  for (const fn of (s.functions ?? []) as Raw[]) {
    functionOutputs.push(...fn.output_field_names);
    functions.set(fn.name, {
      type: String(fn.type),
      inputs: fn.input_field_names.join(','),
      outputs: fn.output_field_names.join(','),
      ...Object.fromEntries(Object.entries(kv(fn.params)).map(([k, v]) => [`params.${k}`, v])),
    });
  }
  const partitionKey = [...fields.values()].some((f) => f.is_partition_key === 'true');
  const collection: Record<string, string> = {
    description: s.description ?? '',
    enable_dynamic_field: String(Boolean(s.enable_dynamic_field)),
    consistency_level: String(d.consistency_level),
    shards_num: String(d.shards_num),
    ...(partitionKey ? { num_partitions: String(d.num_partitions) } : {}),
    ...Object.fromEntries(Object.entries(kv(d.properties)).map(([k, v]) => [`property.${k}`, v])),
    ...Object.fromEntries(Object.entries(kv(s.properties)).map(([k, v]) => [`schema_property.${k}`, v])),
  };
  // The embedded Milvus Lite (2.5.1) has no ShowPartitions: only _default exists there.
  const parts = await rpc(c, 'ShowPartitions', { collection_name: name }).catch((e: Error) => {
    if (/unimplemented/i.test(e.message)) return { partition_names: ['_default'] };
    throw e;
  });
  const idx = await rpc(c, 'DescribeIndex', { collection_name: name, index_name: '' }).catch((e: Error) => {
    if (/index not (found|exist)/i.test(e.message)) return { index_descriptions: [] };
    throw e;
  });
  const indexes = new Map<string, { name: string; params: Record<string, string> }>();
  const described = (idx.index_descriptions ?? []) as Raw[];
  // Keyed by field; a field with several indexes (JSON paths) keys each as field#name, so a
  // target holding fewer of them differs.
  const perField = (f: string) => described.filter((i) => i.field_name === f).length;
  for (const i of described)
    indexes.set(perField(i.field_name) > 1 ? `${i.field_name}#${i.index_name}` : i.field_name, {
      name: i.index_name,
      params: kv(i.params),
    });
  const load = await rpc(c, 'GetLoadState', { collection_name: name });
  return {
    collection,
    fields,
    functions,
    partitions: partitionKey
      ? []
      : [...((parts.partition_names as string[] | undefined) ?? ['_default'])].sort(),
    indexes,
    loaded: String(load.state),
    aliases: [...((d.aliases ?? []) as string[])].sort(),
    partitionKey,
    pk,
    functionOutputs,
    dynamic: Boolean(s.enable_dynamic_field),
  };
}

/**
 * What a target kind is known not to keep, as (element path → warning the status must carry).
 * Paths: 'collection.description', 'field.<f>.description', 'field.<f>.type_params.max_length',
 * 'index.<f>.name', 'index.<f>.params.<k>', 'collection.shards_num', ….
 */
function knownLoss(
  targetKind: string,
  path: string,
  ctx: { sourceIndexName?: (field: string) => string },
): RegExp | undefined {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // Never copied on purpose, whatever the target (the target's own load topology; issue 16).
  const topology = /^collection\.property\.(collection\.(replica\.number|resource_groups))$/.exec(path);
  if (topology) return new RegExp(`^load topology: .*${esc(topology[1]!)}=`);
  if (!targetKind.startsWith('milvus-lite')) return undefined;
  const fixed: Record<string, RegExp> = {
    'collection.description': /^description /,
    'collection.consistency_level': /^consistency level /,
    'collection.shards_num': /^shard count /,
    'collection.num_partitions': /^num_partitions /,
    aliases: /^aliases .* not listed/,
  };
  if (fixed[path]) return fixed[path];
  const fieldDesc = /^field\.([^.]+)\.description$/.exec(path);
  if (fieldDesc) return new RegExp(`^field ${esc(fieldDesc[1]!)}: description`);
  const elementLength = /^field\.([^.]+)\.type_params\.max_length$/.exec(path);
  if (elementLength) return new RegExp(`^field ${esc(elementLength[1]!)}: type parameter max_length`);
  const indexName = /^index\.([^.]+)\.name$/.exec(path);
  if (indexName) return new RegExp(`^index on ${esc(indexName[1]!)} is named`);
  const indexParam = /^index\.([^.]+)\.params\.(.+)$/.exec(path);
  if (indexParam && !['index_type', 'metric_type'].includes(indexParam[2]!)) {
    const name = ctx.sourceIndexName?.(indexParam[1]!) ?? indexParam[1]!;
    return new RegExp(`^index ${esc(name)}: parameter ${esc(indexParam[2]!)}`);
  }
  return undefined;
}

/**
 * A value the source does not report and the plan filled in (milvus-lite's HNSW M/efConstruction,
 * IVF nlist, VarChar array max_length): accepted only with the status warning that names it and
 * the value the target holds.
 */
function filledByPlan(path: string, got: string): RegExp | undefined {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const indexParam = /^index\.([^.]+)\.params\.(.+)$/.exec(path);
  if (indexParam)
    return new RegExp(
      `on field ${esc(indexParam[1]!)}: the source does not report ${esc(indexParam[2]!)}, created with ${esc(indexParam[2]!)}=${esc(got)}\\b`,
    );
  const typeParam = /^field\.([^.]+)\.type_params\.(max_length|max_capacity)$/.exec(path);
  if (typeParam)
    return new RegExp(
      `^field ${esc(typeParam[1]!)}: the source does not report (the )?${esc(typeParam[2]!)}.*created with ${esc(typeParam[2]!)}=${esc(got)}\\b`,
    );
  return undefined;
}

function compareRecords(
  path: string,
  want: Record<string, string>,
  got: Record<string, string>,
  out: [string, string, string][],
) {
  for (const k of new Set([...Object.keys(want), ...Object.keys(got)])) {
    if (want[k] !== got[k]) out.push([`${path}.${k}`, want[k] ?? '(absent)', got[k] ?? '(absent)']);
  }
}

function diffSchema(src: SchemaModel, dst: SchemaModel): [string, string, string][] {
  const out: [string, string, string][] = [];
  compareRecords('collection', src.collection, dst.collection, out);
  for (const [name, f] of src.fields) {
    const g = dst.fields.get(name);
    if (!g) out.push([`field.${name}`, 'present', '(absent)']);
    else compareRecords(`field.${name}`, f, g, out);
  }
  for (const name of dst.fields.keys())
    if (!src.fields.has(name)) out.push([`field.${name}`, '(absent)', 'present']);
  for (const [name, f] of src.functions) {
    const g = dst.functions.get(name);
    if (!g) out.push([`function.${name}`, 'present', '(absent)']);
    else compareRecords(`function.${name}`, f, g, out);
  }
  for (const name of dst.functions.keys())
    if (!src.functions.has(name)) out.push([`function.${name}`, '(absent)', 'present']);
  if (src.partitions.join('\n') !== dst.partitions.join('\n'))
    out.push(['partitions', src.partitions.join(','), dst.partitions.join(',')]);
  for (const [field, i] of src.indexes) {
    const g = dst.indexes.get(field);
    if (!g) out.push([`index.${field}`, 'present', '(absent)']);
    else {
      if (i.name !== g.name) out.push([`index.${field}.name`, i.name, g.name]);
      compareRecords(`index.${field}.params`, i.params, g.params, out);
    }
  }
  for (const field of dst.indexes.keys())
    if (!src.indexes.has(field)) out.push([`index.${field}`, '(absent)', 'present']);
  if (src.aliases.join(',') !== dst.aliases.join(','))
    out.push(['aliases', src.aliases.join(','), dst.aliases.join(',')]);
  if (dst.loaded !== 'LoadStateLoaded') out.push(['load state', 'LoadStateLoaded', dst.loaded]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rows

/**
 * A key as an expression literal. Int64 keys are exact decimal strings. VarChar keys get only the
 * escapes both parsers know: milvus-lite 3.2.2 accepts \" \' \\ \n \r \t and nothing else (no
 * \f, \b, \uXXXX: "unknown escape sequence"), and refuses a raw CR/LF; Milvus 2.3's parser
 * (strconv.Unquote) accepts those escapes and raw control characters. Everything else stays raw.
 */
export function keyLiteral(type: string, k: string): string {
  if (type === 'Int64') return k;
  const esc: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
  return `"${k.replace(/["\\\n\r\t]/g, (c) => esc[c]!)}"`;
}

async function readRows(
  c: MilvusClient,
  name: string,
  m: SchemaModel,
): Promise<{ rows: Map<string, Record<string, string>>; counted: number }> {
  const pk = m.pk;
  const q = async (expr: string, output: string[], limit = QUERY_WINDOW) =>
    rpc(c, 'Query', {
      collection_name: name,
      expr,
      output_fields: output,
      query_params: [{ key: 'limit', value: String(limit) }],
      consistency_level: 'Strong',
      use_default_consistency: false,
    });
  const countRes = await rpc(c, 'Query', {
    collection_name: name,
    expr: '',
    output_fields: ['count(*)'],
    consistency_level: 'Strong',
    use_default_consistency: false,
  });
  const counted = Number(countRes.fields_data[0].scalars.long_data.data[0]);
  if (counted >= QUERY_WINDOW)
    throw new Error(`differ: ${name} has ${counted} rows, more than one query window`);
  // Every key: Milvus 2.3 does not parse -2^63 as a literal, hence the second comparison.
  const all =
    pk.type === 'Int64'
      ? `${pk.name} >= -9223372036854775807 or ${pk.name} < -9223372036854775807`
      : `${pk.name} >= ""`;
  const keysRes = await q(all, [pk.name]);
  const keyCol = keysRes.fields_data.find((f: Raw) => f.field_name === pk.name);
  const keys: string[] = keyCol ? (keyCol.scalars[keyCol.scalars.data].data as unknown[]).map(String) : [];
  const unique = [...new Set(keys)];
  const output = [...m.fields.keys()].filter((f) => !m.functionOutputs.includes(f));
  if (m.dynamic) output.push('$meta');
  const rows = new Map<string, Record<string, string>>();
  for (let i = 0; i < unique.length; i += CHUNK) {
    const chunk = unique.slice(i, i + CHUNK);
    const min = chunk.filter((k) => pk.type === 'Int64' && k === '-9223372036854775808');
    const rest = chunk.filter((k) => !min.includes(k));
    const expr = [
      rest.length ? `${pk.name} in [${rest.map((k) => keyLiteral(pk.type, k)).join(',')}]` : '',
      min.length ? `${pk.name} < -9223372036854775807` : '',
    ]
      .filter(Boolean)
      .join(' or ');
    const got = new Set<string>();
    const take = (res: Raw) => {
      const fds = res.fields_data as Raw[];
      const kc = fds.find((f) => f.field_name === pk.name);
      const n = kc ? (kc.scalars[kc.scalars.data].data as unknown[]).length : 0;
      const cols = fds.map(
        (f) => [f.is_dynamic ? '$meta' : (f.field_name as string), columnCells(f, n)] as const,
      );
      for (let r = 0; r < n; r++) {
        const row: Record<string, string> = {};
        for (const [fname, cells] of cols) row[fname] = cells[r]!;
        const key = String(kc!.scalars[kc!.scalars.data].data[r]);
        got.add(key);
        rows.set(key, row);
      }
      return n;
    };
    const n = take(await q(expr, output));
    // A reply that folded duplicated keys may hold Array values shifted against the keys (Milvus
    // 2.3.5, finding F6): where this chunk counts more rows than it returned, every key is read
    // alone (a one-row reply cannot be misaligned).
    if (counted > unique.length && n > 1) {
      const chunkCount = await rpc(c, 'Query', {
        collection_name: name,
        expr,
        output_fields: ['count(*)'],
        consistency_level: 'Strong',
        use_default_consistency: false,
      });
      if (Number(chunkCount.fields_data[0].scalars.long_data.data[0]) > n)
        for (const k of chunk) {
          const one =
            pk.type === 'Int64' && k === '-9223372036854775808'
              ? `${pk.name} < -9223372036854775807`
              : `${pk.name} in [${keyLiteral(pk.type, k)}]`;
          take(await q(one, output, 1));
        }
    }
    const missing = chunk.filter((k) => !got.has(k));
    if (missing.length)
      throw new Error(
        `differ: ${name}: reading keys back by pk in [...] missed ${missing.length}: ${missing.slice(0, 3).map((k) => JSON.stringify(k))}`,
      );
  }
  return { rows, counted };
}

const short = (s: string | undefined) =>
  s === undefined ? '(absent)' : s.length > 160 ? `${s.slice(0, 160)}…(${s.length})` : s;

function diffRows(
  src: Map<string, Record<string, string>>,
  dst: Map<string, Record<string, string>>,
  regenerated: boolean,
  pk: string,
  out: string[],
): void {
  const limit = 20;
  let reported = 0;
  const report = (s: string) => {
    if (reported++ < limit) out.push(s);
  };
  if (regenerated) {
    // autoID with keys regenerated by the target: rows without the key, as multisets.
    const bag = (m: Map<string, Record<string, string>>) => {
      const b = new Map<string, number>();
      for (const row of m.values()) {
        const { [pk]: _k, ...rest } = row;
        const t = JSON.stringify(Object.entries(rest).sort());
        b.set(t, (b.get(t) ?? 0) + 1);
      }
      return b;
    };
    const a = bag(src);
    const b = bag(dst);
    for (const [t, n] of a)
      if ((b.get(t) ?? 0) !== n)
        report(`row (keys regenerated) ${short(t)}: ${n} on the source, ${b.get(t) ?? 0} on the target`);
    for (const [t, n] of b)
      if (!a.has(t)) report(`row (keys regenerated) ${short(t)}: 0 on the source, ${n} on the target`);
  } else {
    for (const [k, row] of src) {
      const got = dst.get(k);
      if (!got) {
        report(`row ${pk}=${short(JSON.stringify(k))} is missing on the target`);
        continue;
      }
      for (const f of new Set([...Object.keys(row), ...Object.keys(got)])) {
        if (row[f] !== got[f])
          report(
            `row ${pk}=${short(JSON.stringify(k))} field ${f}: source ${short(row[f])}, target ${short(got[f])}`,
          );
      }
    }
    for (const k of dst.keys())
      if (!src.has(k)) report(`row ${pk}=${short(JSON.stringify(k))} exists only on the target`);
  }
  if (reported > limit) out.push(`… and ${reported - limit} more row differences`);
}

async function aliasesResolve(c: MilvusClient, aliases: string[], collection: string): Promise<boolean> {
  for (const a of aliases) {
    try {
      const d = await rpc(c, 'DescribeCollection', { collection_name: a });
      if ((d.schema?.name || d.collection_name) !== collection) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** Compares one migrated collection; see the file comment. */
export async function diffCollection(req: DiffRequest): Promise<DiffResult> {
  const sc = client(req.source);
  const tc = client(req.target);
  try {
    const [ss, ts] = await Promise.all([schemaOf(sc, req.sourceName), schemaOf(tc, req.targetName)]);
    const differences: string[] = [];
    const knownLosses: string[] = [];
    // The engine words them "target did not keep: <element> …"; the element is what is matched.
    const warnings = req.warnings.map((w) => w.replace(/^target did not keep: /, ''));
    for (const [path, want, got] of diffSchema(ss, ts)) {
      // milvus-lite lists no aliases in DescribeCollection although they work: an alias that
      // resolves to the copied collection is kept.
      if (path === 'aliases' && (await aliasesResolve(tc, ss.aliases, req.targetName))) continue;
      const warning = knownLoss(req.target.kind, path, {
        sourceIndexName: (f) => ss.indexes.get(f)?.name ?? f,
      });
      const text = `${path}: source ${short(want)}, target ${short(got)}`;
      const filled = want === '(absent)' ? filledByPlan(path, got) : undefined;
      if (filled && warnings.some((w) => filled.test(w))) {
        knownLosses.push(`${text} (filled by the plan, with a status warning)`);
        continue;
      }
      // A source that reports shard count 0 (the embedded Milvus Lite) leaves it to the target.
      if (path === 'collection.shards_num' && want === '0') continue;
      if (warning && warnings.some((w) => warning.test(w))) knownLosses.push(text);
      else if (warning)
        differences.push(`${text} (a known loss of ${req.target.kind}, but no status warning says so)`);
      else differences.push(text);
    }
    const [s, t] = await Promise.all([readRows(sc, req.sourceName, ss), readRows(tc, req.targetName, ts)]);
    // One row per key on the target: duplicates on the source fold into one row by every query.
    if (t.counted !== t.rows.size)
      differences.push(`target count(*) is ${t.counted} but it holds ${t.rows.size} distinct keys`);
    diffRows(s.rows, t.rows, req.regeneratedKeys, ss.pk.name, differences);
    return { differences, knownLosses, sourceRows: s.rows.size, targetRows: t.rows.size };
  } finally {
    await Promise.all([sc.closeConnection(), tc.closeConnection()]);
  }
}
