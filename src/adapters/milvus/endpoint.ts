import { UserError } from '../../util/errors.js';

export interface Endpoint {
  host: string;
  port: number;
  tls: boolean;
  /** host:port, what gRPC dials. */
  address: string;
}

/**
 * `host:port` and `http://host:port` are plaintext; `https://host[:port]` is TLS (default port 443).
 * A bare host without a port gets Milvus' default port 19530.
 */
export function parseEndpoint(raw: string, side: string): Endpoint {
  const text = raw.trim();
  const m = /^(?:(https?):\/\/)?(\[[0-9a-fA-F:.]+\]|[^:/\s]+)(?::(\d{1,5}))?\/?$/.exec(text);
  if (!m) {
    throw new UserError(
      `${side}.endpoint "${raw}" is not a valid endpoint: use host:port, http://host:port or https://host[:port]`,
      'InvalidEndpoint',
    );
  }
  const scheme = m[1];
  const host = m[2]!.replace(/^\[|\]$/g, '');
  const tls = scheme === 'https';
  const port = m[3] ? Number(m[3]) : tls ? 443 : 19530;
  if (port < 1 || port > 65535) {
    throw new UserError(`${side}.endpoint "${raw}" has port ${port}, outside 1-65535`, 'InvalidEndpoint');
  }
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return { host, port, tls, address };
}
