/**
 * Who may do what: pure checks on identities against the campaign's people and gates. Identities are
 * taken as given here; authenticating them is the API's job (tokens map to identities).
 */
import type { AuditAction, CampaignFile, GatePlan, Person, PersonRole, UserRole } from './schema.js';

export function rolesOf(people: Person[], identity: string): PersonRole[] {
  return people.find((p) => p.identity === identity)?.roles ?? [];
}

/** The starter and anyone with the operator role may pause, resume and abort. */
export function isOperator(people: Person[], startedBy: string, identity: string): boolean {
  return identity === startedBy || rolesOf(people, identity).includes('operator');
}

/** On-call staff handle failed hosts; operators may too. */
export function isOnCall(people: Person[], startedBy: string, identity: string): boolean {
  return rolesOf(people, identity).includes('on-call') || isOperator(people, startedBy, identity);
}

/** Named in the gate, or holding one of the gate's roles. */
export function mayDecideGate(gate: GatePlan, people: Person[], identity: string): boolean {
  return gate.identities.includes(identity) || rolesOf(people, identity).some((r) => gate.roles.includes(r));
}

/** Everyone a gate's notifications go to: its named identities and the people holding its roles. */
export function gateAudience(gate: GatePlan, people: Person[]): string[] {
  const byRole = people.filter((p) => p.roles.some((r) => gate.roles.includes(r))).map((p) => p.identity);
  return [...new Set([...gate.identities, ...byRole])];
}

/**
 * What each signed-in role may ask for. The campaign's own rules (its people, the gate's roles and
 * identities, four eyes) are checked again by the workflow.
 */
export const ROLE_ACTIONS: Record<UserRole, readonly AuditAction[]> = {
  operator: ['start', 'pause', 'resume', 'abort', 'review-soak', 'retry', 'rollback', 'mark-fixed', 'skip'],
  vendor: ['approve', 'reject', 'review-soak'],
  'on-call': ['retry', 'rollback', 'mark-fixed', 'skip'],
  auditor: [],
};

export function roleMay(role: UserRole, action: AuditAction): boolean {
  return ROLE_ACTIONS[role].includes(action);
}

/** What the API and the dashboard show. */
export type View = 'campaigns' | 'hosts' | 'report' | 'ledger' | 'audit' | 'on-call-queue';

const ROLE_VIEWS: Record<UserRole, readonly View[]> = {
  operator: ['campaigns', 'hosts', 'report', 'ledger', 'audit', 'on-call-queue'],
  // Vendors see campaigns and their approval evidence, not the hospital's fleet records.
  vendor: ['campaigns'],
  'on-call': ['campaigns', 'hosts', 'report', 'ledger', 'on-call-queue'],
  auditor: ['campaigns', 'hosts', 'report', 'ledger', 'audit'],
};

export function roleMaySee(role: UserRole, view: View): boolean {
  return ROLE_VIEWS[role].includes(view);
}

export function viewsOf(role: UserRole): readonly View[] {
  return ROLE_VIEWS[role];
}

/** Whether a campaign file names the person (among its people, or on one of its gates). */
export function campaignNames(file: CampaignFile, identity: string): boolean {
  return (
    file.campaign.people.some((p) => p.identity === identity) ||
    file.campaign.approvals.some((a) => a.identities.includes(identity))
  );
}
