import { TOKEN_DAYS, UserExists } from '../../adapters/rollout-store.js';
import { Refused } from '../../client/campaigns.js';
import { UserName, UserRole } from '../../domain/schema.js';
import { adminAudit, table } from '../admin.js';
import { EXIT, NotFound, requireFlag, stringFlag, UsageError, type CommandInput } from '../common.js';
import { print } from '../output.js';
import { withStore } from '../session.js';

/** A token's validity in days from --days (default 90, at most 400). */
function tokenDays(value: string | undefined): number {
  if (value === undefined) return TOKEN_DAYS;
  const days = Number(value);
  if (!Number.isInteger(days) || days < 1 || days > 400) throw new UsageError('--days must be 1..400');
  return days;
}

export async function run({ rest, flags }: CommandInput): Promise<number> {
  const [sub, name] = rest;
  return withStore(async (store) => {
    const audit = adminAudit(store);
    if (sub === 'add') {
      const userName = UserName.safeParse(name);
      if (!userName.success)
        throw new UsageError(
          `usage: rollout users add NAME --role ROLE (${userName.error.issues[0]?.message})`,
        );
      const role = UserRole.safeParse(flags.role);
      if (!role.success) throw new UsageError(`--role must be one of ${UserRole.options.join(', ')}`);
      try {
        const { token, user } = await store.addUser(
          userName.data,
          role.data,
          tokenDays(stringFlag(flags, 'days')),
        );
        await audit(
          'user-add',
          'accepted',
          `${userName.data} as ${role.data}, token until ${user.expiresAt}`,
        );
        print(
          flags.json
            ? `${JSON.stringify({ name: userName.data, role: role.data, token, expiresAt: user.expiresAt })}\n`
            : `user ${userName.data} (${role.data}) added. Token (shown once, only its hash is kept; valid until ${user.expiresAt}):\n${token}\n`,
        );
        return EXIT.ok;
      } catch (err) {
        if (err instanceof UserExists) {
          await audit('user-add', 'refused', `UserExists: ${err.message}`);
          throw new Refused('UserExists', err.message);
        }
        throw err;
      }
    }
    if (sub === 'remove') {
      const removed = await store.removeUser(requireFlag(name, 'NAME'));
      await audit(
        'user-remove',
        removed ? 'accepted' : 'refused',
        removed ? `${name}` : `NotFound: no user ${name}`,
      );
      if (!removed) throw new NotFound(`no user ${name}`);
      print(flags.json ? `${JSON.stringify({ removed: name })}\n` : `user ${name} removed\n`);
      return EXIT.ok;
    }
    if (sub === 'rotate') {
      const rotated = await store.rotateToken(
        requireFlag(name, 'NAME'),
        tokenDays(stringFlag(flags, 'days')),
      );
      await audit(
        'user-rotate',
        rotated ? 'accepted' : 'refused',
        rotated ? `${name}: new token until ${rotated.user.expiresAt}` : `NotFound: no user ${name}`,
      );
      if (!rotated) throw new NotFound(`no user ${name}`);
      print(
        flags.json
          ? `${JSON.stringify({ name, token: rotated.token, expiresAt: rotated.user.expiresAt })}\n`
          : `new token for ${name} (the old one no longer works; valid until ${rotated.user.expiresAt}):\n${rotated.token}\n`,
      );
      return EXIT.ok;
    }
    if (sub === 'list' || sub === undefined) {
      const users = await store.users();
      print(
        flags.json
          ? `${JSON.stringify(users, null, 2)}\n`
          : table(
              users.map((u) => [
                u.name,
                u.role,
                `since ${u.createdAt}`,
                u.expiresAt ? `until ${u.expiresAt}` : '',
              ]),
            ),
      );
      return EXIT.ok;
    }
    throw new UsageError(
      'usage: rollout users add NAME --role ROLE [--days N] | rotate NAME [--days N] | list | remove NAME',
    );
  });
}
