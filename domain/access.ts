/**
 * Who may do what: pure checks on identities against the campaign's people and gates. Identities are
 * taken as given here; authenticating them is the API's job (tokens map to identities).
 */
import type { GatePlan, Person, PersonRole } from './schema.js';

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
