import { describe, expect, it } from 'vitest';
import { ROLE_ACTIONS, roleMay, roleMaySee } from '../../domain/access.js';
import { AuditAction, PersonRole, Signature, UserRole } from '../../domain/schema.js';

describe('roles', () => {
  it('one spelling: users, signatures and campaign people share the same four roles', () => {
    expect(UserRole.options).toEqual(PersonRole.options);
    // Signatures recorded before the one spelling still read, as the one spelling (so they replay).
    const signed = { keyId: 'a'.repeat(64), value: `${'A'.repeat(86)}==`, at: '2026-12-01T00:00:00Z' };
    const signature = (role: string) =>
      Signature.safeParse({ ...signed, nonce: '0'.repeat(32), role, via: 'cli' });
    expect(signature('oncall').data?.role).toBe('on-call');
    for (const role of PersonRole.options) expect(signature(role).data?.role).toBe(role);
    expect(signature('admin').success).toBe(false);
    expect(UserRole.options).toContain('on-call');
    expect(UserRole.safeParse('oncall').success).toBe(false);
    expect(Object.keys(ROLE_ACTIONS).sort()).toEqual([...UserRole.options].sort());
  });

  it('what each role may do', () => {
    const may = (role: UserRole) => AuditAction.options.filter((a) => roleMay(role, a));
    expect(may('vendor')).toEqual(['approve', 'reject', 'review-soak']);
    expect(may('on-call').sort()).toEqual(['mark-fixed', 'retry', 'rollback', 'skip']);
    expect(may('auditor')).toEqual([]);
    expect(may('operator').sort()).toEqual([
      'abort',
      'mark-fixed',
      'pause',
      'resume',
      'retry',
      'review-soak',
      'rollback',
      'skip',
      'start',
    ]);
  });

  it('what each role may see', () => {
    expect(roleMaySee('vendor', 'ledger')).toBe(false);
    expect(roleMaySee('vendor', 'campaigns')).toBe(true);
    expect(roleMaySee('auditor', 'audit')).toBe(true);
    expect(roleMaySee('auditor', 'on-call-queue')).toBe(false);
    expect(roleMaySee('on-call', 'on-call-queue')).toBe(true);
    expect(roleMaySee('on-call', 'audit')).toBe(false);
  });
});
