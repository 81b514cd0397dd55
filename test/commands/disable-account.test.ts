/**
 * palisade-disable-account on real local accounts: each test makes its own (useradd, unique names) and
 * removes it after, and reads /etc/shadow as it really is after every step. `su USER` from root asks PAM's
 * account stage without a password, as an SSH key login does: it proves what still gets in.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Execd } from '../harness/execd.js';
import { createInstall, wazuhLogLine, type Install } from '../harness/install.js';

const command = 'palisade-disable-account';
const alertFor = (dstuser: unknown) => ({ rule: { id: '5503', description: 'PAM: User login failed.' }, data: { dstuser, srcip: '203.0.113.7' } });

let install: Install;
let execd: Execd;
const made: string[] = [];

async function makeUser(options: { system?: boolean; password?: boolean; expire?: string } = {}): Promise<string> {
  const name = `pal${randomBytes(4).toString('hex')}`;
  await execa('useradd', ['-M', '-s', '/bin/sh', ...(options.system ? ['-r'] : []), ...(options.expire ? ['-e', options.expire] : []), name]);
  made.push(name);
  if (options.password !== false) await execa('chpasswd', { input: `${name}:correct horse battery staple\n` });
  return name;
}

const shadowLine = (user: string) => readFileSync('/etc/shadow', 'utf8').split('\n').find((line) => line.startsWith(`${user}:`))!;
const shadowFields = (user: string) => {
  const fields = shadowLine(user).split(':');
  return { password: fields[1]!, expiry: fields[7]! };
};
/** What `passwd -S` reports: L locked, P usable password, NP none. */
const passwdStatus = async (user: string) => (await execa('passwd', ['-S', user])).stdout.split(' ')[1];
/** A login that needs no password (su from root, like an SSH key): does PAM's account stage let it in? */
const canLogIn = async (user: string) => (await execa('su', [user, '-c', 'true'], { reject: false })).exitCode === 0;
const recordFile = (user: string) => join(install.root, 'var', 'palisade', 'accounts', `${user}.json`);

beforeEach(() => {
  install = createInstall();
  execd = new Execd(install);
});
afterEach(async () => {
  for (const name of made.splice(0)) {
    await execa('pkill', ['--signal', 'KILL', '--euid', name], { reject: false });
    await execa('userdel', [name], { reject: false });
  }
  install.remove();
});

describe('lock and unlock through execd', () => {
  it('locks the password and expires the account, so no login gets in; the delete restores /etc/shadow exactly', async () => {
    const user = await makeUser();
    const before = shadowLine(user);
    expect(await canLogIn(user)).toBe(true);

    const run = await execd.add(command, alertFor(user));
    expect(run.keys).toEqual([user]);
    expect(run.exitCode).toBe(0);
    expect(shadowFields(user).password.startsWith('!')).toBe(true);
    expect(shadowFields(user).expiry).toBe('1');
    expect(await passwdStatus(user)).toBe('L');
    expect(await canLogIn(user)).toBe(false);
    expect(statSync(recordFile(user)).mode & 0o777).toBe(0o600);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'account-locked', user, result: 'locked', done: ['password locked', 'account expired'], rule: { ruleId: '5503' } });

    expect((await execd.expire(run.rkey)).exitCode).toBe(0);
    expect(shadowLine(user)).toBe(before);
    expect(await passwdStatus(user)).toBe('P');
    expect(await canLogIn(user)).toBe(true);
    expect(existsSync(recordFile(user))).toBe(false);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'account-unlocked', user, result: 'unlocked', undone: ['password unlocked', 'expiry removed'] });
  });

  it('restores the expiry the account had before, and leaves a password that was locked before locked', async () => {
    const user = await makeUser({ expire: '2031-03-04' });
    await execa('passwd', ['-l', user]);
    const before = shadowLine(user);
    const run = await execd.add(command, alertFor(user));
    expect(shadowFields(user).expiry).toBe('1');
    expect(install.logRecords().at(-1)).toMatchObject({ done: ['account expired'], passwordWasLocked: true });
    await execd.expire(run.rkey);
    expect(shadowLine(user)).toBe(before);
    expect(await passwdStatus(user)).toBe('L');
  });

  it('on abort keeps what the first add recorded, so the delete still restores the original', async () => {
    const user = await makeUser({ expire: '2031-03-04' });
    const before = shadowLine(user);
    const first = await execd.add(command, alertFor(user));
    const again = await execd.add(command, alertFor(user));
    expect(again.decision).toBe('abort');
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'account-locked', result: 'present' });
    // A stateless rule firing again (timeout 0) must not overwrite the record either.
    await execd.add(command, alertFor(user), { timeout: 0 });
    await execd.expire(first.rkey);
    expect(shadowLine(user)).toBe(before);
  });

  it('undoes only what is still as it left it: a password unlocked by hand meanwhile is not touched', async () => {
    const user = await makeUser();
    const run = await execd.add(command, alertFor(user));
    await execa('usermod', ['-U', user]);
    await execa('usermod', ['-p', '$6$new$hash', user]);
    await execd.expire(run.rkey);
    expect(shadowFields(user)).toEqual({ password: '$6$new$hash', expiry: '' });
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'account-unlocked', leftAlone: ['the password was already unlocked by someone else'] });
  });

  it('an account that had no password stays locked on delete rather than become passwordless, and says how to fix it', async () => {
    const user = await makeUser();
    await execa('passwd', ['-d', user]);
    const run = await execd.add(command, alertFor(user));
    expect(shadowFields(user)).toEqual({ password: '!', expiry: '1' });
    const deleted = await execd.expire(run.rkey);
    expect(deleted.exitCode).toBe(1);
    expect(shadowFields(user).password).toBe('!');
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'error', reason: expect.stringMatching(/had no password .* set a password with passwd/) });
    expect(existsSync(recordFile(user))).toBe(true);
  });

  it('a delete for an account removed since it was locked succeeds and drops the record', async () => {
    const user = await makeUser();
    const run = await execd.add(command, alertFor(user));
    await execa('userdel', [user]);
    expect((await execd.expire(run.rkey)).exitCode).toBe(0);
    expect(existsSync(recordFile(user))).toBe(false);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'account-unlocked', leftAlone: ['the account no longer exists'] });
  });

  it('method lock-password locks the password only, as Wazuh does', async () => {
    install.writeConfig('disable_account:\n  method: lock-password\n');
    const user = await makeUser();
    const before = shadowLine(user);
    const run = await execd.add(command, alertFor(user));
    expect(shadowFields(user)).toMatchObject({ expiry: '' });
    expect(await passwdStatus(user)).toBe('L');
    await execd.expire(run.rkey);
    expect(shadowLine(user)).toBe(before);
  });

  it('kills the account\'s processes only when kill_sessions says so', async () => {
    const user = await makeUser();
    const uid = Number((await execa('id', ['-u', user])).stdout);
    const session = () => spawn('sleep', ['300'], { uid, gid: uid, stdio: 'ignore' });
    const exited = (child: ReturnType<typeof spawn>) => new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));

    const kept = session();
    const run = await execd.add(command, alertFor(user));
    expect(kept.exitCode).toBeNull();
    expect(kept.signalCode).toBeNull();
    expect(install.logRecords().at(-1)).toMatchObject({ sessionsKilled: false });
    kept.kill('SIGKILL');
    await execd.expire(run.rkey);

    install.writeConfig('disable_account:\n  kill_sessions: true\n');
    const killed = session();
    const gone = exited(killed);
    await execd.add(command, alertFor(user));
    expect(await gone).toBe('SIGKILL');
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'account-locked', sessionsKilled: true });
  });

  it('by hand: the echo test locks, tells the operator, and the delete unlocks', async () => {
    const user = await makeUser();
    const before = shadowLine(user);
    const add = await execd.pipeIn(command, `${JSON.stringify({ version: 1, command: 'add', parameters: { alert: alertFor(user) } })}\n`);
    expect(add.exitCode).toBe(0);
    expect(add.stderr).toContain(`palisade-disable-account: locked ${user} (password locked, account expired)`);
    const del = await execd.pipeIn(command, `${JSON.stringify({ version: 1, command: 'delete', parameters: { alert: alertFor(user) } })}\n`);
    expect(del.exitCode).toBe(0);
    expect(del.stderr).toContain(`unlocked ${user}`);
    expect(shadowLine(user)).toBe(before);
  });

  it('a delete for an account it never locked changes nothing and succeeds', async () => {
    const user = await makeUser();
    await execa('passwd', ['-l', user]);
    const before = shadowLine(user);
    expect((await execd.delete(command, alertFor(user))).exitCode).toBe(0);
    expect(shadowLine(user)).toBe(before);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'account-unlocked', result: 'absent' });
  });
});

describe('accounts it never locks', () => {
  it('a system account (UID below UID_MIN), a protected user, an unknown name: skipped without check_keys', async () => {
    const system = await makeUser({ system: true });
    const protectedUser = await makeUser();
    install.writeConfig(`protected_users: [${protectedUser}]\n`);
    const shadow = readFileSync('/etc/shadow', 'utf8');
    for (const [user, why] of [[system, /system account \(UID \d+, outside UID_MIN/], [protectedUser, /in protected_users/], ['palnobody', /no local account named palnobody/]] as const) {
      const run = await execd.add(command, alertFor(user));
      expect(run.keysLine).toBeUndefined();
      expect(run.exitCode).toBe(0);
      expect(install.logRecords().at(-1)).toMatchObject({ event: 'skipped-protected', reason: expect.stringMatching(why) });
    }
    expect(readFileSync('/etc/shadow', 'utf8')).toBe(shadow);
  });
});

describe('bad input changes nothing, in Wazuh 4.14.7\'s words', () => {
  const cases: Array<[string, unknown]> = [
    ['root', 'root'],
    ['path traversal', '../../etc/passwd'],
    ['two dots', 'a..b'],
    ['an option smuggled as a name', '-e'],
    ['a leading +', '+nis'],
    ['a colon', 'a:b'],
    ['a space', 'bad user'],
    ['shell characters', 'x;rm -rf /'],
    ['a newline', 'a\nb'],
    ['a NUL byte', 'a\u0000b'],
    ['a name over 256 bytes', 'a'.repeat(257)],
    ['a number', 1000],
    ['an empty name', ''],
    ['no dstuser at all', undefined],
  ];
  it.each(cases)('%s', async (_name, dstuser) => {
    const shadow = readFileSync('/etc/shadow', 'utf8');
    const run = await execd.sendAndWait(command, `${JSON.stringify(execd.buildMessage(command, alertFor(dstuser)))}\n`);
    expect(run.exitCode).toBe(255);
    expect(run.stdout).toBe('');
    expect(install.logLines().map((line) => line.replace(wazuhLogLine, ''))).toContain("Cannot read 'dstuser' from data or invalid username format");
    expect(install.logRecords().at(-1)).toMatchObject({ level: 'error', event: 'error' });
    expect(readFileSync('/etc/shadow', 'utf8')).toBe(shadow);
  });
});
