/**
 * Bounded, printable text for every value a person or a file gives us: nothing that can rewrite a
 * terminal or a page (control characters, bidirectional overrides), nothing that can pass for someone
 * else (identities in plain ASCII: a Cyrillic "а" in an approver's name is refused), nothing unbounded.
 */
import { z } from 'zod';
import { compileLinear, UnsupportedPattern } from './linear-regex.js';

/** C0 controls, DEL, C1 controls, line/paragraph separators and bidi overrides/isolates. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
/** The same, but tab and newline are allowed (commands, comments). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_BUT_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** One line of text, at most `max` characters, without control characters. */
export const Text = (max: number) =>
  z
    .string()
    .max(max, `at most ${max} characters`)
    .refine((s) => !CONTROL.test(s), 'must not contain control characters or bidirectional overrides');

/** Free text that may span lines (a comment, a reason, a command), at most `max` characters. */
export const LongText = (max: number) =>
  z
    .string()
    .max(max, `at most ${max} characters`)
    .refine(
      (s) => !CONTROL_BUT_LINES.test(s),
      'must not contain control characters (other than tab and newline) or bidirectional overrides',
    );

/** A command template run on a host or controller. */
export const Command = LongText(8192).refine((s) => s.trim().length > 0, 'must not be empty');

/**
 * Who a person is, as the audit log and the approval records name them: an e-mail-like ASCII identity.
 * Letters from other scripts are refused so that no identity can look like another.
 */
export const Identity = z
  .string()
  .min(1)
  .max(200, 'at most 200 characters')
  .regex(
    /^[A-Za-z0-9](?:[A-Za-z0-9._%+-]*[A-Za-z0-9_])?(?:@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)?$/,
    'use an e-mail-like identity in plain ASCII (letters, digits, . _ % + - and one @)',
  );

const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6 = /^[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%[A-Za-z0-9]+)?$/;

/** Where a machine is reached: an IPv4 or IPv6 address, or a DNS host name (never an option like `-oProxy…`). */
export const Address = z
  .string()
  .min(1)
  .max(253)
  .refine(
    (a) => IPV4.test(a) || IPV6.test(a) || HOSTNAME.test(a),
    'must be an IPv4 or IPv6 address or a host name',
  );

/** A DICOM application entity title: 1-16 printable ASCII characters, no backslash, not only spaces. */
export const AeTitle = z
  .string()
  .regex(/^[\x20-\x5b\x5d-\x7e]{1,16}$/, 'a DICOM AE title is 1-16 printable ASCII characters, no backslash')
  .refine((s) => s.trim().length > 0, 'must not be only spaces');

/** Top-level system trees: protecting one of them would hash a whole operating system. */
const SYSTEM_ROOTS = new Set([
  '/',
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/home',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/media',
  '/mnt',
  '/opt',
  '/proc',
  '/root',
  '/run',
  '/sbin',
  '/srv',
  '/sys',
  '/tmp',
  '/usr',
  '/var',
]);

/** An absolute POSIX path without `..` or control characters. */
export const AbsolutePath = Text(1024)
  .refine((p) => p.startsWith('/'), 'use an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".."');

/**
 * An absolute Windows path on a local drive (`D:\\PACS\\Images`): a drive letter, backslashes, no `..`,
 * none of the characters Windows forbids in names. UNC paths (`\\\\server\\share`) are not local.
 */
export const WINDOWS_PATH = /^[A-Za-z]:\\(?:[^\\/:*?"<>|]+(?:\\[^\\/:*?"<>|]+)*\\?)?$/;

/**
 * Also refused: `.` and `..` segments, a segment ending in a dot or space (Windows drops them, so
 * `C:\\Windows.` is `C:\\Windows`) and 8.3 short names (`PROGRA~1`): each is another spelling of a
 * path, which would get past the system-root check.
 */
export function isWindowsPath(path: string): boolean {
  const segments = path.split('\\').slice(1).filter(Boolean);
  return (
    WINDOWS_PATH.test(path) &&
    segments.every((s) => s !== '.' && s !== '..' && !/[. ]$/.test(s) && !/~\d/.test(s))
  );
}

/** A path on a fleet host: absolute POSIX (`/var/lib/pacs`) or absolute Windows (`D:\\PACS`); the platform check is the campaign's. */
export const HostPath = Text(1024).refine(
  (p) => (p.startsWith('/') && !p.split('/').includes('..')) || isWindowsPath(p),
  'use an absolute path (/var/lib/pacs or D:\\PACS), without "." or ".." segments, 8.3 short names or names ending in a dot or space',
);

/** Windows trees that are the system, not a store: drive roots and the system folders. */
const WINDOWS_SYSTEM_ROOTS = new Set([
  'windows',
  'program files',
  'program files (x86)',
  'programdata',
  'users',
  'system volume information',
]);

function isSystemRoot(path: string): boolean {
  if (path.startsWith('/')) return SYSTEM_ROOTS.has(path.replace(/\/+/g, '/').replace(/(.)\/$/, '$1'));
  const parts = path.toLowerCase().split('\\').filter(Boolean);
  return parts.length === 1 || (parts.length === 2 && WINDOWS_SYSTEM_ROOTS.has(parts[1] ?? ''));
}

/** A protected path on a fleet host (POSIX or Windows): a store, not a system root. */
export const ProtectedHostPath = HostPath.refine(
  (p) => !isSystemRoot(p),
  'is a system root: protect the clinical store itself (e.g. /var/lib/pacs/studies or D:\\PACS\\Images), not a whole tree of the system',
);

/** A pattern for the linear-time matcher (domain/linear-regex.ts); the reason when it cannot be one. */
export function linearPatternProblem(source: string): string | undefined {
  try {
    compileLinear(source);
    return undefined;
  } catch (err) {
    if (err instanceof UnsupportedPattern) return err.message;
    throw err;
  }
}

/** Characters a terminal would act on, replaced for display (the CLI prints every value through this). */
export function printable(text: string): string {
  return text.replace(new RegExp(CONTROL_BUT_LINES.source, 'gu'), '\uFFFD');
}
