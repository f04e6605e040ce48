/**
 * A real grpc-js server on a local port with one unary method of raw bytes (no protobuf), and the
 * matching client call: for tests of what grpc-js puts on the wire and hands back.
 */
import * as grpc from '@grpc/grpc-js';

const same = (b: Buffer) => b;

export interface BytesServer {
  address: string;
  /** One call of the method with `message`, through `client`. */
  call(client: grpc.Client, message: Buffer): Promise<Buffer>;
  stop(): void;
}

export async function startBytesServer(
  path: string,
  handle: (request: Buffer) => Buffer,
): Promise<BytesServer> {
  const server = new grpc.Server();
  server.addService(
    {
      Call: {
        path,
        requestStream: false,
        responseStream: false,
        requestSerialize: same,
        requestDeserialize: same,
        responseSerialize: same,
        responseDeserialize: same,
      },
    },
    {
      Call: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb(null, handle(call.request)),
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    call: (client, message) =>
      new Promise((resolve, reject) =>
        client.makeUnaryRequest(path, same, same, message, (e, v) => (e ? reject(e) : resolve(v!))),
      ),
    stop: () => server.forceShutdown(),
  };
}
