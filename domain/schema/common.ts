/** Limits, names, fingerprints, SSH endpoints: what the other schema modules build on. */
import { z } from 'zod';
import { Address } from '../text.js';

/** What one campaign file may hold: beyond these it is a mistake (or an attack), not a fleet. */
export const LIMITS = {
  fileBytes: 4 * 1024 * 1024,
  depth: 32,
  hosts: 20_000,
  controllers: 1_000,
  jumpHosts: 100,
  healthChecks: 200,
  people: 200,
} as const;

export const Name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'use 1-63 lower-case letters, digits, ".", "_" or "-"');

/** An SSH host key fingerprint as `ssh-keygen -lf` prints it: "SHA256:" + unpadded base64. */
export const HostKeyFingerprint = z
  .string()
  .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'must be a SHA256 fingerprint as printed by ssh-keygen -lf');

export const Sha256 = z.string().regex(/^[a-f0-9]{64}$/, 'must be 64 lower-case hex digits');

export const Role = z.enum([
  'archive',
  'database',
  'nas',
  'diagnostic-workstation',
  'qa-workstation',
  'test-system',
  'web',
  'other',
]);
export type Role = z.infer<typeof Role>;

/**
 * How to reach a machine over SSH. The key itself is never here: `credential` names a key the worker
 * holds (`agent` means the worker's SSH agent). Without `hostKey`, the worker's known_hosts file must
 * list the machine; an unknown or different key is refused either way.
 */
export const SshEndpoint = {
  address: Address,
  port: z.number().int().min(1).max(65535).default(22),
  /** A Unix user, or a Windows one: `name`, `DOMAIN\\name` or `name@domain`. */
  user: z
    .string()
    .regex(
      /^(?:[A-Za-z0-9][A-Za-z0-9.-]{0,14}\\)?[A-Za-z0-9_][A-Za-z0-9._-]{0,63}(?:@[A-Za-z0-9][A-Za-z0-9.-]{0,252})?$/,
      'must be a user name (Unix, or Windows: name, DOMAIN\\name or name@domain)',
    ),
  hostKey: HostKeyFingerprint.optional(),
  credential: Name.default('default'),
};

/** A bastion that SSH connections to hosts and controllers may go through (one hop). */
export const JumpHost = z.strictObject({ id: Name, ...SshEndpoint });
export type JumpHost = z.infer<typeof JumpHost>;

/** A value that may be pasted into a template: no quotes, spaces or shell syntax, never an option. */
export const TemplateValue = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9._/:@{}+=,-]+$/, 'use letters, digits and . _ / : @ + = , - only')
  .refine((v) => !v.startsWith('-'), 'must not start with "-" (a tool would read it as an option)');
