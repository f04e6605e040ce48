import { pino } from 'pino';

/**
 * Structured logs go to stderr so that stdout stays free for machine-readable output
 * (`--output json`). Child loggers carry the migration / collection / shard context.
 */
export const logger = pino(
  {
    name: 'milvus-migrate',
    level: process.env.LOG_LEVEL ?? 'info',
    // Credentials must never reach a log line, whatever object is logged.
    redact: {
      paths: [
        'password',
        'token',
        '*.password',
        '*.token',
        '*.authorization',
        'authorization',
        'headers.authorization',
      ],
      censor: '[redacted]',
    },
  },
  pino.destination(2),
);

export type Logger = typeof logger;
