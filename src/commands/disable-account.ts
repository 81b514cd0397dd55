/**
 * palisade-disable-account: lock the local account named by the alert's data.dstuser (5.x: user.name) until execd's delete.
 *
 * A password lock alone (`passwd -l`) leaves SSH keys working, so by default the account is also expired (`usermod --expiredate 1`), which
 * PAM's account stage refuses for every login method; the delete undoes exactly what the add did, restoring
 * the previous expiry and leaving a password that was already locked locked; root, system accounts and
 * protected_users are never touched; the name is checked as Wazuh 4.14.7's is_valid_username checks it.
 *
 * What was done is kept in var/palisade/accounts/<user>.json, written before the account is changed, so a
 * crash between the two leaves a record the delete can still act on (it only undoes what it finds done).
 */
import { mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { writeFileAtomic } from '../runtime/atomic-file.js';
import { AccountError } from '../runtime/errors.js';
import { runTool, toolRefused } from '../runtime/exec.js';
import { fieldValue } from '../runtime/message.js';
import { nowSeconds } from '../runtime/duration.js';
import { stateDir } from '../runtime/state.js';
import type { ArCommand, CommandContext, Targeting } from './command.js';
import { ruleOf, underStateLock, unusedOptionRefusal } from './common.js';

export interface AccountTarget {
  user: string;
}

/** Wazuh 4.14.7's is_valid_username, plus control characters, which it never meets in C strings. */
export function usernameProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `not a string (${value === null ? 'null' : typeof value})`;
  if (value.length === 0) return 'empty';
  if (value === 'root') return 'root, which is never locked';
  if (Buffer.byteLength(value) > 256) return 'longer than 256 bytes';
  if (/^[-+~]/.test(value)) return 'starting with -, + or ~';
  if (/[:, \t\n\r/\\]/.test(value)) return 'holding one of : , space tab newline / \\';
  if (value.includes('..')) return 'holding ".."';
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'holding a control character';
  return undefined;
}

const accountRecordSchema = z.object({
  user: z.string(),
  uid: z.int(),
  /** True when we locked the password; false when it was locked before us (then it stays locked). */
  lockedPassword: z.boolean(),
  /** The shadow expiry field before we set it to 1 ("" = never); null when we did not touch it. */
  previousExpiry: z.nullable(z.string()),
  since: z.number(),
  reason: z.optional(z.object({ ruleId: z.optional(z.string()), description: z.optional(z.string()) })),
});

type AccountRecord = z.infer<typeof accountRecordSchema>;

interface Account {
  uid: number;
}

interface Shadow {
  password: string;
  /** Days since the epoch, as text; "" when the account never expires. */
  expiry: string;
}

function readLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n');
}

function findAccount(user: string): Account | undefined {
  const line = readLines('/etc/passwd').find((l) => l.startsWith(`${user}:`));
  const uid = Number(line?.split(':')[2]);
  return line && Number.isInteger(uid) ? { uid } : undefined;
}

function readShadow(user: string): Shadow {
  const line = readLines('/etc/shadow').find((l) => l.startsWith(`${user}:`));
  if (!line) throw new AccountError(`${user} has no line in /etc/shadow: only local accounts can be locked here`);
  const fields = line.split(':');
  return { password: fields[1] ?? '', expiry: fields[7] ?? '' };
}

/** UID_MIN and UID_MAX of /etc/login.defs: accounts outside them belong to the system (nobody is 65534). */
function regularUidRange(): { min: number; max: number } {
  let text = '';
  try {
    text = readFileSync('/etc/login.defs', 'utf8');
  } catch {
    // No login.defs: shadow's own defaults.
  }
  const value = (key: string, fallback: number) => Number(new RegExp(`^\\s*${key}\\s+(\\d+)`, 'm').exec(text)?.[1] ?? fallback);
  return { min: value('UID_MIN', 1000), max: value('UID_MAX', 60000) };
}

/** Why this account must be left alone, if it must. */
function protectionReason(ctx: CommandContext, user: string): string | undefined {
  if (ctx.config.protected_users.includes(user)) return `${user} is in protected_users`;
  const account = findAccount(user);
  if (!account) return `there is no local account named ${user}`;
  const range = regularUidRange();
  if (account.uid < range.min || account.uid > range.max) {
    return `${user} is a system account (UID ${account.uid}, outside UID_MIN..UID_MAX ${range.min}..${range.max} of /etc/login.defs)`;
  }
  return undefined;
}

async function usermod(ctx: CommandContext, args: string[], user: string): Promise<void> {
  const argv: [string, ...string[]] = ['usermod', ...args, '--', user];
  const result = await runTool(argv, { timeoutSeconds: ctx.config.command_timeout });
  if (result.exitCode !== 0) throw toolRefused(argv, result);
}

const accountsDir = (ctx: CommandContext) => join(stateDir(ctx.installDir), 'accounts');
const recordPath = (ctx: CommandContext, user: string) => join(accountsDir(ctx), `${user}.json`);

function readRecord(ctx: CommandContext, user: string): AccountRecord | undefined {
  let text: string;
  try {
    text = readFileSync(recordPath(ctx, user), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const parsed = accountRecordSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new AccountError(`${recordPath(ctx, user)} is damaged (${parsed.error.issues[0]?.message}); check the account by hand and remove the file`);
  return parsed.data;
}

function writeRecord(ctx: CommandContext, record: AccountRecord): void {
  mkdirSync(accountsDir(ctx), { recursive: true, mode: 0o700 });
  writeFileAtomic(recordPath(ctx, record.user), `${JSON.stringify(record)}\n`, { mode: 0o600 });
}

/** The day the account is expired on: day 1 of the epoch is in the past for every clock. */
const expiredDay = '1';

export function disableAccountCommand(): ArCommand<AccountTarget> {
  const lock = async (ctx: CommandContext, target: AccountTarget) => {
    const { user } = target;
    // skipReason ran before the handshake; the account may have changed since, and this must never lock root's peers.
    const protection = protectionReason(ctx, user);
    if (protection) {
      ctx.log.warn({ event: 'skipped', user, reason: protection });
      ctx.tell(`skipped: ${protection}`);
      return;
    }
    const outcome = await underStateLock(ctx, async () => {
      const shadow = readShadow(user);
      const reason = ruleOf(ctx);
      // A record already there holds the state from before the first lock: it must never be overwritten.
      const record = readRecord(ctx, user) ?? {
        user,
        uid: findAccount(user)!.uid,
        lockedPassword: !shadow.password.startsWith('!'),
        previousExpiry: ctx.config.disable_account.method === 'lock-and-expire' ? shadow.expiry : null,
        since: nowSeconds(),
        ...(reason ? { reason } : {}),
      };
      // Written first: a crash after usermod must still leave the delete something to undo.
      writeRecord(ctx, record);
      const done: string[] = [];
      if (record.lockedPassword && !shadow.password.startsWith('!')) {
        await usermod(ctx, ['--lock'], user);
        done.push('password locked');
      }
      if (record.previousExpiry !== null && shadow.expiry !== expiredDay) {
        await usermod(ctx, ['--expiredate', expiredDay], user);
        done.push('account expired');
      }
      let killed = false;
      if (ctx.config.disable_account.kill_sessions) killed = await killProcesses(ctx, record.uid);
      return { record, done, killed };
    });
    const result = outcome.done.length > 0 ? 'locked' : 'present';
    ctx.log.info({
      event: 'account-locked',
      user,
      result,
      done: outcome.done,
      passwordWasLocked: !outcome.record.lockedPassword,
      sessionsKilled: outcome.killed,
      rule: ruleOf(ctx),
    });
    const what = outcome.done.length > 0 ? ` (${outcome.done.join(', ')})` : ' (it was already locked)';
    ctx.tell(`locked ${user}${what}${outcome.killed ? '; its processes were killed' : ''}`);
  };

  return {
    name: 'palisade-disable-account',
    stateful: true,
    target(ctx): Targeting<AccountTarget> {
      const unused = unusedOptionRefusal(ctx, []);
      if (unused) return unused;
      const { userField } = ctx.fields;
      const user = fieldValue(ctx.alert, userField);
      const problem = usernameProblem(user);
      if (problem) return { ok: false, wazuhMessage: ctx.fields.invalidUser, detail: `${userField} is ${problem}` };
      return { ok: true, target: { user: user as string }, keys: [user as string] };
    },
    skipReason: async (ctx, target) => protectionReason(ctx, target.user),
    skipEvent: 'skipped-protected',
    add: lock,
    // execd already holds the key; lock again whatever was undone by hand meanwhile.
    refresh: lock,
    async delete(ctx, target) {
      const { user } = target;
      const outcome = await underStateLock(ctx, async () => {
        const record = readRecord(ctx, user);
        if (!record) return undefined;
        if (!findAccount(user)) {
          // Removed since it was locked: nothing left to undo, and a record kept would never be used.
          unlinkSync(recordPath(ctx, user));
          return { undone: [], leftAlone: ['the account no longer exists'] };
        }
        const shadow = readShadow(user);
        const undone: string[] = [];
        const leftAlone: string[] = [];
        if (record.lockedPassword) {
          if (shadow.password.startsWith('!')) {
            if (shadow.password === '!') {
              throw new AccountError(`${user} had no password before it was locked; unlocking would leave it passwordless, so it stays locked: set a password with passwd ${user}, then remove ${recordPath(ctx, user)}`);
            }
            await usermod(ctx, ['--unlock'], user);
            undone.push('password unlocked');
          } else leftAlone.push('the password was already unlocked by someone else');
        }
        if (record.previousExpiry !== null) {
          if (shadow.expiry === expiredDay) {
            await usermod(ctx, ['--expiredate', record.previousExpiry], user);
            undone.push(record.previousExpiry === '' ? 'expiry removed' : `expiry restored to day ${record.previousExpiry}`);
          } else leftAlone.push(`the expiry was changed by someone else (day ${shadow.expiry || 'never'}): kept`);
        }
        unlinkSync(recordPath(ctx, user));
        return { undone, leftAlone };
      });
      ctx.log.info({ event: 'account-unlocked', user, result: outcome ? 'unlocked' : 'absent', ...(outcome ?? {}) });
      const detail = !outcome ? ' (Palisade had not locked it)' : outcome.leftAlone.length > 0 ? ` (${outcome.leftAlone.join('; ')})` : '';
      ctx.tell(`unlocked ${user}${detail}`);
    },
  };
}

/** Ends every process of the account, its login sessions included; true when there was one to end. */
async function killProcesses(ctx: CommandContext, uid: number): Promise<boolean> {
  const argv: [string, ...string[]] = ['pkill', '--signal', 'KILL', '--euid', String(uid)];
  const result = await runTool(argv, { timeoutSeconds: ctx.config.command_timeout });
  // pkill: 0 some were signalled, 1 none matched.
  if (result.exitCode === 0 || result.exitCode === 1) return result.exitCode === 0;
  throw toolRefused(argv, result);
}
