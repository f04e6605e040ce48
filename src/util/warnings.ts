/**
 * grpc-js gives TLS the endpoint's host as server name even when it is an IP address
 * (`https://10.0.0.5:19530`), and Node then prints a deprecation warning (DEP0123) to the user, who
 * did nothing wrong: certificate checks still use the IP. Only that warning is dropped.
 */
export function quietIpServerNameWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    const opts = rest[0];
    const code = typeof opts === 'object' && opts !== null ? (opts as { code?: string }).code : rest[1];
    if (code === 'DEP0123') return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}
