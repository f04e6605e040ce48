/**
 * Privilege groups (Milvus 2.5+; no server installable here has them, so the requests and replies
 * are checked at the wire level against the official protobuf definitions). `WireDouble` is a test
 * double of the transport only: the real MilvusClient encodes every request with the proto, the
 * double decodes those bytes with the proto and answers with proto-encoded replies.
 */
import { describe, expect, it } from 'vitest';
import { MilvusClient } from '../../src/adapters/milvus/client.js';
import { MilvusError } from '../../src/adapters/milvus/errors.js';
import { decode, encode, root, SERVICE } from '../../src/adapters/milvus/proto.js';
import { applyRoles, planRoles } from '../../src/engine/roles.js';
import { parseVersion } from '../../src/engine/versions.js';
import { logger } from '../../src/util/logger.js';

type Handler = (request: Record<string, unknown>) => Record<string, unknown>;

/** A MilvusClient whose calls go through the real encoders to a server played by `handlers`. */
function wireDouble(side: 'source' | 'target', handlers: Record<string, Handler>) {
  const c = new MilvusClient({
    side,
    endpoint: '127.0.0.1:1',
    database: 'default',
    readOnly: side === 'source',
  });
  const seen: { method: string; request: Record<string, unknown> }[] = [];
  const service = root.lookupService(SERVICE);
  const patched = c as unknown as {
    raw: (
      path: string,
      ser: (r: object) => Buffer,
      de: (b: Buffer) => unknown,
      req: object,
    ) => Promise<unknown>;
  };
  const refusal = (c as unknown as { refusal: (m: string) => Error | undefined }).refusal.bind(c);
  patched.raw = async (path, ser, de, req) => {
    const method = path.split('/').pop()!;
    // The client's own guard stays in front of the double: a source never sends a write.
    const refused = refusal(method);
    if (refused) throw refused;
    const m = service.methods[method]!;
    const strip = (t: string) => t.replace(/^\.milvus\.proto\./, '').replace(/^milvus\./, '');
    // What goes on the wire, read back by the proto: a misspelt field would be missing here.
    const request = decode<Record<string, unknown>>(strip(m.requestType), ser(req));
    seen.push({ method, request });
    const h = handlers[method];
    if (!h) throw new Error(`wire double: no handler for ${method}`);
    return de(encode(strip(m.responseType), { status: { code: 0 }, ...h(request) }));
  };
  return { client: c, seen };
}

const v = (raw: string) => parseVersion(raw);

describe('privilege groups (Milvus 2.5+), at the wire level', () => {
  const sourceGroups = {
    privilege_groups: [
      { group_name: 'CollectionReadOnly', privileges: [{ name: 'Query' }] }, // built-in: never created
      { group_name: 'readers', privileges: [{ name: 'Query' }, { name: 'Search' }] },
    ],
  };
  /** A SelectGrant reply: the group `readers` granted on every collection of `db`. */
  const readersGrantIn = (db: string) => ({
    entities: [
      {
        object: { name: 'Collection' },
        object_name: '*',
        db_name: db,
        grantor: { privilege: { name: 'readers' } },
      },
    ],
  });
  const rbacSource = () =>
    wireDouble('source', {
      ListPrivilegeGroups: () => sourceGroups,
      SelectRole: () => ({ results: [{ role: { name: 'app' } }, { role: { name: 'public' } }] }),
      SelectGrant: () => readersGrantIn('default'),
    });

  it('the plan lists the source’s own groups for a 2.5 target, and none for older targets', async () => {
    const { client } = rbacSource();
    const p = await planRoles(client, 'default', { source: v('v2.5.4'), target: v('v2.5.4') });
    expect(p.groups).toEqual([{ name: 'readers', privileges: ['Query', 'Search'] }]);
    expect(p.notes.join('\n')).toMatch(/privilege group readers is created on the target with Query, Search/);
    expect(p.roles).toEqual([
      {
        name: 'app',
        grants: [{ object: 'Collection', objectName: '*', database: 'default', privilege: 'readers' }],
      },
    ]);
    const old = await planRoles(client, 'default', { source: v('v2.5.4'), target: v('v2.4.9') });
    expect(old.groups).toEqual([]);
    expect(old.notes.join('\n')).toMatch(
      /privilege group readers is not created: the target \(v2\.4\.9\) has no privilege groups/,
    );
    // A 2.3/2.4 source is not asked at all (it has no such RPC).
    const { client: c23, seen } = rbacSource();
    await planRoles(c23, 'default', { source: v('v2.3.5'), target: v('v2.5.4') });
    expect(seen.map((s) => s.method)).not.toContain('ListPrivilegeGroups');
  });

  it('the run creates a missing group, adds only the privileges it lacks, then grants it to the role', async () => {
    const { client: src } = rbacSource();
    const plan = await planRoles(src, 'default', { source: v('v2.5.4'), target: v('v2.5.4') });
    const { client: dst, seen } = wireDouble('target', {
      ListPrivilegeGroups: () => ({ privilege_groups: [] }),
      CreatePrivilegeGroup: () => ({}),
      OperatePrivilegeGroup: () => ({}),
      SelectRole: () => ({ results: [] }),
      CreateRole: () => ({}),
      OperatePrivilege: () => ({}),
      SelectGrant: () => readersGrantIn('db2'),
    });
    expect(await applyRoles(dst, plan, 'default', 'db2', logger)).toEqual([]);
    const calls = seen.map((s) => s.method);
    expect(calls.indexOf('CreatePrivilegeGroup')).toBeLessThan(calls.indexOf('OperatePrivilege'));
    expect(seen.find((s) => s.method === 'CreatePrivilegeGroup')!.request).toMatchObject({
      group_name: 'readers',
    });
    expect(seen.find((s) => s.method === 'OperatePrivilegeGroup')!.request).toMatchObject({
      group_name: 'readers',
      privileges: [{ name: 'Query' }, { name: 'Search' }],
      type: 0,
    });
    expect(seen.find((s) => s.method === 'OperatePrivilege')!.request).toMatchObject({
      entity: { role: { name: 'app' }, db_name: 'db2', grantor: { privilege: { name: 'readers' } } },
    });
  });

  it('a grant the target refuses is a warning; a grant whose connection was cut is sent again', async () => {
    const { client: src } = rbacSource();
    const plan = await planRoles(src, 'default', { source: v('v2.5.4'), target: v('v2.5.4') });
    const target = (grant: Handler) =>
      wireDouble('target', {
        ListPrivilegeGroups: () => sourceGroups,
        SelectRole: () => ({ results: [{ role: { name: 'app' } }] }),
        OperatePrivilege: grant,
        SelectGrant: () => ({ entities: [] }),
      }).client;
    // OperatePrivilege answers with a bare Status.
    const refused = target(() => ({ code: 65535, error_code: 1, reason: 'privilege readers not found' }));
    expect((await applyRoles(refused, plan, 'default', 'db2', logger)).join('\n')).toMatch(
      /role app: the target refused readers on Collection \*: .*privilege readers not found/,
    );
    // A cut connection is no answer: the grant (idempotent) is sent again, no warning.
    let sent = 0;
    const cut = target(() => {
      if (sent++ === 0)
        throw new MilvusError('connection lost', 'OperatePrivilege', 'dropped-after-send', {
          ambiguous: true,
        });
      return {};
    });
    expect(await applyRoles(cut, plan, 'default', 'db2', logger)).toEqual([
      'role app: readers on Collection * is not listed on the target',
    ]);
    expect(sent).toBe(2);
  });

  it('a source client may list groups but never create one (read-only source)', async () => {
    const { client } = rbacSource();
    await expect(client.createPrivilegeGroup('x')).rejects.toThrow(
      /refusing to send CreatePrivilegeGroup to the read-only source/,
    );
  });
});
