/**
 * One module of grpc-js's own build (`@grpc/grpc-js/build/src/<name>.js`), the same instance grpc-js
 * itself uses (CommonJS, resolved from the same package); undefined when this grpc-js has no such
 * module. For the two narrow wrappers of grpc-frame.ts and grpc-replies.ts only.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function grpcJsModule<T>(name: string): Partial<T> | undefined {
  try {
    return require(`@grpc/grpc-js/build/src/${name}.js`) as Partial<T>;
  } catch {
    return undefined;
  }
}
