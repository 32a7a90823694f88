import { readFileSync } from 'node:fs';
import { KeyExists } from '../../adapters/rollout-store.js';
import { keyIdOf, readPublicKeyPem } from '../../adapters/signing.js';
import { Refused } from '../../client/campaigns.js';
import { adminAudit, table } from '../admin.js';
import { EXIT, NotFound, requireFlag, UsageError, type CommandInput } from '../common.js';
import { print } from '../output.js';
import { withStore } from '../session.js';

export async function run({ rest, flags }: CommandInput): Promise<number> {
  const [sub, arg] = rest;
  return withStore(async (store) => {
    const audit = adminAudit(store);
    if (sub === 'register') {
      const owner = requireFlag(arg, 'USER');
      if (!(await store.userRole(owner))) throw new NotFound(`no user ${owner} (rollout users add first)`);
      const file = requireFlag(flags['public-key'], '--public-key FILE');
      let raw: Buffer;
      try {
        raw = readPublicKeyPem(readFileSync(file, 'utf8'));
      } catch (err) {
        throw new UsageError(
          `--public-key ${file}: ${(err as Error).message} (an Ed25519 public key in PEM)`,
        );
      }
      const keyId = keyIdOf(raw);
      try {
        await store.registerKey({ keyId, owner, kind: 'personal', publicKey: raw.toString('base64') });
      } catch (err) {
        if (err instanceof KeyExists) {
          await audit('key-register', 'refused', `KeyExists: ${keyId}`);
          throw new Refused('KeyExists', err.message);
        }
        throw err;
      }
      await audit('key-register', 'accepted', `${owner}: personal key ${keyId}`);
      print(
        flags.json
          ? `${JSON.stringify({ owner, keyId })}\n`
          : `personal key ${keyId} registered for ${owner}\n`,
      );
      return EXIT.ok;
    }
    if (sub === 'revoke') {
      const keyId = requireFlag(arg, 'KEY_ID');
      const revoked = await store.revokeKey(keyId);
      await audit(
        'key-revoke',
        revoked ? 'accepted' : 'refused',
        revoked ? keyId : `NotFound: no key ${keyId}`,
      );
      if (!revoked) throw new NotFound(`no key ${keyId}`);
      print(flags.json ? `${JSON.stringify({ revoked: keyId })}\n` : `key ${keyId} revoked\n`);
      return EXIT.ok;
    }
    if (sub === 'list' || sub === undefined) {
      const keys = await store.signingKeys();
      print(
        flags.json
          ? `${JSON.stringify(keys, null, 2)}\n`
          : table(
              keys.map((k) => [
                k.keyId,
                k.kind,
                k.owner,
                `since ${k.createdAt}`,
                k.revokedAt ? `REVOKED ${k.revokedAt}` : '',
              ]),
            ),
      );
      return EXIT.ok;
    }
    throw new UsageError('usage: rollout keys register USER --public-key FILE | list | revoke KEY_ID');
  });
}
