import { pino, type Logger } from 'pino';

/**
 * The detector's own logs (never the tailed lines): JSON on stderr so stdout stays free
 * for findings in replay mode. Secrets are redacted by path. Levels are written as names
 * (`"level":"warn"`), not pino's numbers, so a log store's users filter with `level="warn"`; the
 * time is RFC 3339.
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      name: 'robot-sre-detector',
      level,
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['*.password', '*.token', '*.pass', '*.authorization', '*.bearerToken', '*.creds', '*.nkey', 'headers.authorization'],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}

export const log: Logger = createLogger();
export type { Logger };
