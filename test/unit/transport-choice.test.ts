import { describe, expect, it } from 'vitest';
import { bulkTransport } from '../../src/adapters/milvus/client.js';

describe('the transport of the copy (MILVUS_MIGRATE_TRANSPORT)', () => {
  it('is the own HTTP/2 client by default', () => {
    expect(bulkTransport({})).toBe('h2');
    expect(bulkTransport({ MILVUS_MIGRATE_TRANSPORT: 'h2' })).toBe('h2');
  });

  it('is grpc-js when asked, or when a proxy is configured (only grpc-js goes through one)', () => {
    expect(bulkTransport({ MILVUS_MIGRATE_TRANSPORT: 'grpc-js' })).toBe('grpc-js');
    expect(bulkTransport({ https_proxy: 'http://proxy:3128' })).toBe('grpc-js');
    expect(bulkTransport({ grpc_proxy: 'http://proxy:3128', MILVUS_MIGRATE_TRANSPORT: 'h2' })).toBe('h2');
  });

  it('refuses other values and names the valid ones', () => {
    expect(() => bulkTransport({ MILVUS_MIGRATE_TRANSPORT: 'http3' })).toThrow(/grpc-js .* or h2/);
  });
});
