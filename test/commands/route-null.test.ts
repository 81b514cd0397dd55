/**
 * palisade-route-null on a real kernel: execd's protocol in the protected namespace of a netns lab, real TCP
 * connections from the attacker's namespace, and `ip route` as it really is after each step; then the operator
 * CLI's list, reconcile and flush on those routes. Never skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Execd } from '../harness/execd.js';
import { createInstall, wazuhLogLine, type Install } from '../harness/install.js';
import { createLab, type Lab } from '../harness/netns.js';
import { expectSuccess, palisade, palisadeJson } from '../harness/verbs.js';

const command = 'palisade-route-null';
const alertFrom = (srcip: unknown) => ({ rule: { id: '5712', description: 'sshd: brute force' }, data: { srcip } });

let lab: Lab;
let install: Install;
let execd: Execd;
beforeAll(async () => {
  lab = await createLab();
  install = createInstall({ config: `allowlist: [${lab.attacker4[2]}/32]\n` });
  execd = new Execd(install, { netns: lab.protectedNs });
});
afterAll(async () => {
  await lab?.destroy();
  install?.remove();
});

/** `ip route show` lines for exactly this destination, as an operator would read them. */
const routesTo = async (address: string) => {
  const family = address.includes(':') ? ['-6'] : [];
  const out = await lab.run(lab.protectedNs, ['ip', ...family, 'route', 'show', 'exact', address]);
  return out.split('\n').filter(Boolean).map((line) => line.trim());
};

describe('blackhole routes through execd', () => {
  it('stops replies to the attacker, and only to the attacker, until the delete (IPv4)', async () => {
    const [attacker, neighbour] = lab.attacker4;
    expect(await lab.canConnect(attacker)).toBe(true);
    const run = await execd.add(command, alertFrom(attacker));
    expect(run.keys).toEqual([attacker]);
    expect(run.exitCode).toBe(0);
    expect(await routesTo(attacker)).toEqual([`blackhole ${attacker} proto 199`]);
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(neighbour)).toBe(true);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'blocked', backend: 'null-route', address: attacker, result: 'added', rule: { ruleId: '5712' } });
    expect(install.stateEntries()).toEqual([expect.objectContaining({ address: attacker, backend: 'null-route', holders: [expect.objectContaining({ by: 'palisade-route-null', key: attacker })] })]);

    expect((await execd.expire(run.rkey)).exitCode).toBe(0);
    expect(await routesTo(attacker)).toEqual([]);
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'unblocked', backend: 'null-route', address: attacker, result: 'deleted' });
    expect(install.stateEntries()).toEqual([]);
  });

  it('does the same for IPv6, which Wazuh\'s `route add` cannot', async () => {
    const [attacker, neighbour] = lab.attacker6;
    expect(await lab.canConnect(attacker)).toBe(true);
    const run = await execd.add(command, alertFrom(attacker));
    expect(run.exitCode).toBe(0);
    expect(await routesTo(attacker)).toEqual([expect.stringMatching(new RegExp(`^blackhole ${attacker} dev lo proto 199 `))]);
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(neighbour)).toBe(true);
    await execd.expire(run.rkey);
    expect(await routesTo(attacker)).toEqual([]);
    expect(await lab.canConnect(attacker)).toBe(true);
  });

  it('is idempotent: abort and a repeated add keep one route; the route comes back after a flush', async () => {
    const [attacker] = lab.attacker4;
    const first = await execd.add(command, alertFrom(attacker));
    const again = await execd.add(command, alertFrom(attacker));
    expect(again.decision).toBe('abort');
    expect(again.exitCode).toBe(0);
    expect(await routesTo(attacker)).toEqual([`blackhole ${attacker} proto 199`]);

    // Someone flushes it by hand; the next alert for the address (abort again) puts it back.
    await lab.run(lab.protectedNs, ['ip', 'route', 'del', attacker]);
    await execd.add(command, alertFrom(attacker));
    expect(await routesTo(attacker)).toEqual([`blackhole ${attacker} proto 199`]);
    const repeated = await execd.add(command, alertFrom(attacker), { timeout: 0 });
    expect(repeated.exitCode).toBe(0);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'blocked', backend: 'null-route', result: 'present' });

    await execd.expire(first.rkey);
    expect(await routesTo(attacker)).toEqual([]);
    // A second delete finds nothing and still succeeds.
    expect((await execd.delete(command, alertFrom(attacker))).exitCode).toBe(0);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'unblocked', backend: 'null-route', result: 'absent' });
  });

  it('leaves a route it did not make alone, on add and on delete, and says so', async () => {
    const [, neighbour] = lab.attacker4;
    await lab.run(lab.protectedNs, ['ip', 'route', 'add', `${neighbour}/32`, 'dev', 'lo', 'proto', 'static']);
    try {
      const before = await routesTo(neighbour);
      const run = await execd.add(command, alertFrom(neighbour));
      expect(run.exitCode).toBe(0);
      expect(await routesTo(neighbour)).toEqual(before);
      expect(install.logRecords().at(-1)).toMatchObject({ event: 'skipped', address: neighbour, reason: expect.stringMatching(/did not make .*proto static.*left alone/) });
      expect(run.stderr).toContain('skipped: a route to');
      // Nothing of ours to remember: reconcile must not try to put it back.
      expect(install.stateEntries().filter((entry) => entry.address === neighbour)).toEqual([]);

      expect((await execd.expire(run.rkey)).exitCode).toBe(0);
      expect(await routesTo(neighbour)).toEqual(before);
      // A blackhole of someone else's is not ours either.
      await lab.run(lab.protectedNs, ['ip', 'route', 'replace', 'blackhole', neighbour, 'proto', 'static']);
      await execd.delete(command, alertFrom(neighbour));
      expect(await routesTo(neighbour)).toEqual([`blackhole ${neighbour} proto static`]);
    } finally {
      await lab.run(lab.protectedNs, ['ip', 'route', 'del', neighbour]);
    }
  });

  it('never blackholes an allow-listed address or this host itself', async () => {
    const spare = lab.attacker4[2];
    const run = await execd.add(command, alertFrom(spare));
    expect(run.keysLine).toBeUndefined();
    expect(await routesTo(spare)).toEqual([]);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'skipped-allowlisted', reason: expect.stringContaining('config allowlist') });
    const self = await execd.add(command, alertFrom(lab.protected4));
    expect(self.keysLine).toBeUndefined();
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'skipped-allowlisted', reason: expect.stringContaining('this host') });
    expect(await lab.canConnect(spare)).toBe(true);
  });

  it('by hand: the echo test blackholes and the delete removes it', async () => {
    const address = lab.attacker6[1];
    const add = await execd.pipeIn(command, `${JSON.stringify({ version: 1, command: 'add', parameters: { alert: alertFrom(address) } })}\n`);
    expect(add.exitCode).toBe(0);
    expect(add.stderr).toContain(`palisade-route-null: blocked ${address} on null-route for 7d at most`);
    expect(await routesTo(address)).toHaveLength(1);
    const del = await execd.pipeIn(command, `${JSON.stringify({ version: 1, command: 'delete', parameters: { alert: alertFrom(address) } })}\n`);
    expect(del.exitCode).toBe(0);
    expect(await routesTo(address)).toEqual([]);
  });
});

describe('state, expiry and the operator CLI', () => {
  // An install of its own on dry-run: the CLI also looks at the configured firewall, and here only routes matter.
  let own: Install;
  let ownExecd: Execd;
  beforeAll(() => {
    own = createInstall({ config: 'backend: dry-run\n' });
    ownExecd = new Execd(own, { netns: lab.protectedNs });
  });
  afterAll(() => own?.remove());
  const cli = (...args: string[]) => palisade(own, [...args, '--root', own.root], { netns: lab.protectedNs });
  const cliJson = <T>(...args: string[]) => palisadeJson<T>(own, [...args, '--root', own.root], { netns: lab.protectedNs });
  const nullRouteReport = async (...args: string[]) => {
    const report = await cliJson<{ ok: boolean; backends: Array<Record<string, unknown>> }>(...args);
    expect(report.ok).toBe(true);
    return report.backends.find((backend) => backend.backend === 'null-route');
  };

  it('a --ttl 5 route is listed, outlives its ttl (routes keep no timer), and palisade reconcile removes it', async () => {
    const [attacker, neighbour] = lab.attacker4;
    // timeout 0: execd never sends the delete (an agent killed, a host that crashed).
    expect((await ownExecd.add(command, alertFrom(attacker), { extraArgs: ['--ttl', '5'], timeout: 0 })).exitCode).toBe(0);
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    const listed = await cliJson<{ blocks: Array<Record<string, unknown>> }>('list');
    expect(listed.blocks).toEqual([
      expect.objectContaining({ address: attacker, backend: 'null-route', holders: [expect.objectContaining({ by: 'palisade-route-null' })], ruleId: '5712', inFirewall: true, inState: true }),
    ]);

    // Long enough that a loaded machine still lists it before it expires.
    await new Promise((resolve) => setTimeout(resolve, 6000));
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await nullRouteReport('reconcile')).toMatchObject({ expired: 1, expiredInFirewall: 1, active: 0 });
    expect(await routesTo(attacker)).toEqual([]);
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(await lab.canConnect(neighbour)).toBe(true);
    expect(own.stateEntries()).toEqual([]);
  });

  it('reconcile puts back a route lost (a reboot, a hand-run ip route del) and removes one of ours the state does not know', async () => {
    const [attacker, neighbour] = lab.attacker4;
    const [attacker6] = lab.attacker6;
    await ownExecd.add(command, alertFrom(attacker));
    await ownExecd.add(command, alertFrom(attacker6));
    await lab.run(lab.protectedNs, ['ip', 'route', 'del', attacker]);
    await lab.run(lab.protectedNs, ['ip', 'route', 'add', 'blackhole', neighbour, 'proto', '199']);
    expect(await lab.canConnect(attacker)).toBe(true);

    expect(await nullRouteReport('reconcile')).toMatchObject({ readded: 1, removedUnknown: [neighbour], active: 2 });
    expect(await routesTo(attacker)).toEqual([`blackhole ${attacker} proto 199`]);
    expect(await routesTo(neighbour)).toEqual([]);
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(attacker6, 500)).toBe(false);
    expect(await lab.canConnect(neighbour)).toBe(true);
  });

  it("reconcile leaves alone a route someone else put where ours was, and forgets ours", async () => {
    const [, neighbour] = lab.attacker4;
    await ownExecd.add(command, alertFrom(neighbour));
    await lab.run(lab.protectedNs, ['ip', 'route', 'replace', `${neighbour}/32`, 'dev', 'lo', 'proto', 'static']);
    try {
      const before = await routesTo(neighbour);
      expect(await nullRouteReport('reconcile')).toMatchObject({ readded: 0, leftAlone: [neighbour] });
      expect(await routesTo(neighbour)).toEqual(before);
      expect(own.stateEntries().filter((entry) => entry.address === neighbour)).toEqual([]);
    } finally {
      await lab.run(lab.protectedNs, ['ip', 'route', 'del', neighbour]);
    }
  });

  it('palisade flush --yes removes every route of ours and leaves the others', async () => {
    const [attacker] = lab.attacker4;
    const [attacker6] = lab.attacker6;
    await lab.run(lab.protectedNs, ['ip', 'route', 'add', 'blackhole', '198.51.100.77', 'proto', 'static']);
    expectSuccess(await cli('block', '198.51.100.128/25', '--backend', 'null-route'));
    expect(await routesTo('198.51.100.128/25')).toEqual(['blackhole 198.51.100.128/25 proto 199']);

    const flush = expectSuccess(await cli('flush', '--yes'));
    expect(flush.stdout).toMatch(/^null-route: removed 3 block\(s\) and Palisade's rules$/m);
    expect(await lab.run(lab.protectedNs, ['ip', 'route', 'show', 'proto', '199'])).toBe('');
    expect(await lab.run(lab.protectedNs, ['ip', '-6', 'route', 'show', 'proto', '199'])).toBe('');
    expect(await routesTo('198.51.100.77')).toEqual(['blackhole 198.51.100.77 proto static']);
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(await lab.canConnect(attacker6)).toBe(true);
    expect(own.stateEntries()).toEqual([]);
    await lab.run(lab.protectedNs, ['ip', 'route', 'del', '198.51.100.77']);
  });
});

describe('bad input changes nothing', () => {
  const cases: Array<[string, unknown]> = [
    ['shell characters', '192.0.2.66 && ip route flush table main'],
    ['an option smuggled as an address', '-6'],
    ['path traversal', '../../../etc'],
    ['a number', 3221226050],
    ['a network where an address is expected', '192.0.2.0/24'],
    ['a name over 256 bytes', 'x'.repeat(300)],
  ];
  it.each(cases)('%s', async (_name, srcip) => {
    const before = await lab.run(lab.protectedNs, ['ip', 'route', 'show', 'table', 'all']);
    const run = await execd.sendAndWait(command, `${JSON.stringify(execd.buildMessage(command, alertFrom(srcip)))}\n`);
    expect(run.exitCode).toBe(255);
    expect(run.stdout).toBe('');
    expect(install.logLines().map((line) => line.replace(wazuhLogLine, ''))).toContain("Cannot read 'srcip' from data or invalid IP format");
    expect(await lab.run(lab.protectedNs, ['ip', 'route', 'show', 'table', 'all'])).toBe(before);
  });
});
