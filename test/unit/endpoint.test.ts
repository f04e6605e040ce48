import { describe, expect, it } from 'vitest';
import { parseEndpoint } from '../../src/adapters/milvus/endpoint.js';

describe('parseEndpoint', () => {
  it.each([
    ['10.0.0.5:19530', { host: '10.0.0.5', port: 19530, tls: false }],
    ['http://milvus.local:1234', { host: 'milvus.local', port: 1234, tls: false }],
    ['https://in03-x.cloud', { host: 'in03-x.cloud', port: 443, tls: true }],
    ['https://in03-x.cloud:19541/', { host: 'in03-x.cloud', port: 19541, tls: true }],
    ['milvus', { host: 'milvus', port: 19530, tls: false }],
  ])('%s', (raw, want) => {
    expect(parseEndpoint(raw, 'source')).toMatchObject(want);
  });

  it.each(['ftp://x:1', 'host:99999', 'a b:1', ''])('refuses %j with a message naming the forms', (raw) => {
    expect(() => parseEndpoint(raw, 'target')).toThrow(/target\.endpoint /);
  });
});
