/** pino for everything outside workflows; JSON on stderr so `--json` output on stdout stays clean. */
import { pino, type DestinationStream, type Logger } from 'pino';

/** Paths that could carry secrets; pino replaces their values before anything is written. */
export const REDACTED_PATHS = [
  'key',
  'privateKey',
  'passphrase',
  'password',
  'token',
  'apiKey',
  'secret',
  'authorization',
  // The SDK's activity logs carry task tokens: whoever holds one can complete the activity.
  'taskToken',
  '*.key',
  '*.privateKey',
  '*.passphrase',
  '*.password',
  '*.token',
  '*.apiKey',
  '*.secret',
  '*.authorization',
  '*.taskToken',
];

/** `destination` is a file descriptor (default stderr) or a stream (tests). */
export function createLogger(
  level = process.env.ROLLOUT_LOG_LEVEL ?? 'info',
  destination: number | DestinationStream = 2,
): Logger {
  return pino(
    { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    typeof destination === 'number' ? pino.destination(destination) : destination,
  );
}
