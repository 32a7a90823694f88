/**
 * Ed25519 keys and signatures for human decisions (domain/decisions.ts says what is signed). Private
 * keys stay in files on the machine that signs (the API's service key, a person's own key); the rollout
 * store holds public keys only, by their ID (SHA-256 of the raw 32-byte key).
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign as signBytes,
  verify as verifyBytes,
  type KeyObject,
} from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { decisionMessage } from '../domain/decisions.js';
import type { DecisionAction, Signature } from '../domain/schema.js';

/** The DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows it. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The raw 32 bytes of an Ed25519 public key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.length - 32));
}

/** A key's ID: SHA-256 of its raw bytes, hex. */
export function keyIdOf(rawKey: Buffer): string {
  return createHash('sha256').update(rawKey).digest('hex');
}

/** Reads a PEM public key (SPKI) and returns its raw bytes, refusing anything but Ed25519. */
export function readPublicKeyPem(pem: string): Buffer {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 public key');
  return rawPublicKey(key);
}

/** A signing identity: a private key and its public ID. */
export interface Signer {
  keyId: string;
  publicKey: Buffer;
  /** Signs one decision; a fresh nonce and the current time go into what is signed. */
  sign(
    action: DecisionAction,
    campaignId: string,
    fields: Record<string, unknown>,
    claims: Pick<Signature, 'role' | 'via'>,
  ): Signature;
}

export function signerFromKey(privateKey: KeyObject): Signer {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 private key');
  const publicKey = rawPublicKey(createPublicKey(privateKey));
  const keyId = keyIdOf(publicKey);
  return {
    keyId,
    publicKey,
    sign(action, campaignId, fields, claims) {
      const meta = { keyId, at: new Date().toISOString(), nonce: randomBytes(16).toString('hex'), ...claims };
      const value = signBytes(
        null,
        Buffer.from(decisionMessage(action, campaignId, fields, meta)),
        privateKey,
      );
      return { ...meta, value: value.toString('base64') };
    },
  };
}

/** A signer from a PEM (PKCS#8) private key file. */
export function signerFromFile(path: string): Signer {
  return signerFromKey(createPrivateKey(readFileSync(path)));
}

/**
 * The service key of this installation (the API's, also used by the CLI on the same machine): read from
 * `path`, or created there (mode 0600, in a 0700 directory) on first use.
 */
export function loadOrCreateServiceKey(path: string): Signer {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(path, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  }
  chmodSync(path, 0o600);
  return signerFromFile(path);
}

/** True when `signature` is a valid Ed25519 signature of the decision by the raw public key. */
export function verifyDecisionSignature(
  rawKey: Buffer,
  action: DecisionAction,
  campaignId: string,
  fields: Record<string, unknown>,
  signature: Signature,
): boolean {
  const { value, ...meta } = signature;
  const key = createPublicKey({
    key: Buffer.concat([ED25519_SPKI_PREFIX, rawKey]),
    format: 'der',
    type: 'spki',
  });
  try {
    return verifyBytes(
      null,
      Buffer.from(decisionMessage(action, campaignId, fields, meta)),
      key,
      Buffer.from(value, 'base64'),
    );
  } catch {
    return false;
  }
}
