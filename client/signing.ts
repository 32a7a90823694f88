/**
 * How the people's interfaces sign decisions: with this installation's service key (the API, and the
 * CLI on the same machine, after authenticating the user by token: the signature attests "this user,
 * in this role, through this interface") or with a person's own key (ROLLOUT_SIGNING_KEY).
 */
import { keyIdOf, loadOrCreateServiceKey, signerFromFile, type Signer } from '../adapters/signing.js';
import type { RolloutStore } from '../adapters/rollout-store.js';
import type { DecisionAction, Signature, UserRole } from '../domain/schema.js';

/** Signs one decision in the signed-in user's role. */
export interface DecisionSigner {
  keyId: string;
  sign(
    action: DecisionAction,
    campaignId: string,
    fields: Record<string, unknown>,
    role: UserRole,
  ): Signature;
}

export function decisionSigner(signer: Signer, via: 'cli' | 'api'): DecisionSigner {
  return {
    keyId: signer.keyId,
    sign: (action, campaignId, fields, role) => signer.sign(action, campaignId, fields, { role, via }),
  };
}

/** The owner name service keys are registered under. */
export const SERVICE_KEY_OWNER = 'service:rollout';

/**
 * The installation's service key, created on first use and registered in the rollout store so workers
 * can verify what it signs.
 */
export async function serviceSigner(store: RolloutStore, keyFile: string): Promise<Signer> {
  const signer = loadOrCreateServiceKey(keyFile);
  if (!(await store.signingKey(signer.keyId)))
    await store.registerKey({
      keyId: signer.keyId,
      owner: SERVICE_KEY_OWNER,
      kind: 'service',
      publicKey: signer.publicKey.toString('base64'),
    });
  return signer;
}

/** A person's own key from a PEM file; it must be registered for that person. */
export async function personalSigner(
  store: RolloutStore,
  keyFile: string,
  identity: string,
): Promise<Signer> {
  const signer = signerFromFile(keyFile);
  const registered = await store.signingKey(keyIdOf(signer.publicKey));
  if (!registered || registered.kind !== 'personal' || registered.owner !== identity)
    throw new Error(
      `the key in ${keyFile} is not registered as ${identity}'s own key (rollout keys register)`,
    );
  return signer;
}
