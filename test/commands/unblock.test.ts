/**
 * palisade-unblock and palisade-block (issue 15, part 1): the stateless commands Wazuh's API sends to a whole
 * fleet. Real nftables and blackhole routes in a namespace lab, the shipped binary driven by the execd
 * simulator as execd runs a `!command` (timeout 0, no ar.conf entry), and the operator CLI.
 */
import { describe, expect, it } from 'vitest';
import { alertFrom, apiAlert, finding5 } from '../harness/alerts.js';
import { labWithInstalls, palisadeJson } from '../harness/verbs.js';

/** What an analysisd alert always has (rule, manager); what an API request carries is only its caller's data (apiAlert). */
const ruleAlert = (srcip: string) => alertFrom(srcip, {}, { manager: { name: 'm' } });

const fx = labWithInstalls({
  afterEach: async (lab) => {
    for (const address of lab.attacker4) await lab.run(lab.protectedNs, ['sh', '-c', `ip route del blackhole ${address} 2>/dev/null; true`]);
  },
});
const { setUp, cli } = fx;
type Listed = { blocks: Array<{ address: string; backend: string; holders?: Array<{ by: string; expiresAt: number }> }> };
const listed = async () => (await palisadeJson<Listed>(fx.install, ['list'], { netns: fx.lab.protectedNs })).blocks;
const blackholes = () => fx.lab.run(fx.lab.protectedNs, ['ip', 'route', 'show', 'type', 'blackhole']);

/** A `!command` as execd runs it: no ar.conf timeout, so never a timer, never an abort. */
const bang = (name: string, alert: unknown, extraArgs: readonly string[] = []) => fx.execd.add(name, alert, { timeout: 0, extraArgs });

describe('palisade-unblock', () => {
  it('lifts every hold on every backend, and the alert command\'s later timed delete changes nothing', async () => {
    setUp();
    const [attacker] = fx.lab.attacker4;
    expect((await cli('block', attacker, '--for', '7d')).exitCode).toBe(0);
    const drop = await fx.execd.add('palisade-drop', ruleAlert(attacker));
    const route = await fx.execd.add('palisade-route-null', ruleAlert(attacker));
    expect(await bang('palisade-block', apiAlert(attacker), ['--ttl', '1d'])).toMatchObject({ exitCode: 0, keysLine: undefined });
    expect((await listed()).map((block) => `${block.backend}:${block.holders?.map((holder) => holder.by).sort().join('+')}`).sort()).toEqual([
      'nftables:fleet+operator+palisade-drop',
      'null-route:palisade-route-null',
    ]);
    expect(await fx.lab.canConnect(attacker, 500)).toBe(false);

    const run = await bang('palisade-unblock', apiAlert(attacker));
    // Stateless: no check_keys, so execd keeps no timer and sends no delete.
    expect(run).toMatchObject({ exitCode: 0, keysLine: undefined, decision: undefined });
    expect(run.stderr).toContain(`unblocked ${attacker} on nftables`);
    expect(run.stderr).toContain(`unblocked ${attacker} on null-route`);
    expect(await fx.lab.canConnect(attacker)).toBe(true);
    expect(await blackholes()).not.toContain(attacker);
    expect(fx.install.stateEntries()).toEqual([]);
    const records = fx.install.logRecords();
    expect(records.filter((record) => record.event === 'unblocked').map((record) => record.backend).sort()).toEqual(['nftables', 'null-route']);

    // execd's own timers for the alerts run later: nothing to lift, nothing re-added, no error.
    for (const rkey of [drop.rkey, route.rkey]) expect(await fx.execd.expire(rkey)).toMatchObject({ exitCode: 0 });
    expect(await fx.lab.canConnect(attacker)).toBe(true);
    expect(fx.install.stateEntries()).toEqual([]);
    expect(fx.install.logRecords().filter((record) => record.level === 'error')).toEqual([]);
  });

  it('says so when the address was not blocked, and changes nothing', async () => {
    setUp();
    const [attacker, neighbour] = fx.lab.attacker4;
    await fx.execd.add('palisade-drop', ruleAlert(neighbour));
    const run = await bang('palisade-unblock', apiAlert(attacker));
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain(`${attacker} was not blocked by Palisade here; nothing changed`);
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'not-blocked', address: attacker });
    expect(await fx.lab.canConnect(neighbour, 500)).toBe(false);
  });

  it('reports an address still stopped by a wider network block, which is not its to lift', async () => {
    setUp();
    const [attacker] = fx.lab.attacker4;
    // 192.0.2.64/28: the lab's attackers, not the protected host nor its gateway.
    expect((await cli('block', '192.0.2.64/28', '--for', '1h')).exitCode).toBe(0);
    await fx.execd.add('palisade-drop', ruleAlert(attacker));
    const run = await bang('palisade-unblock', apiAlert(attacker));
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain(`unblocked ${attacker} on nftables`);
    expect(run.stderr).toContain(`${attacker} is still blocked as part of 192.0.2.64/28 on nftables`);
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'still-covered', address: attacker, by: '192.0.2.64/28' });
    expect(await fx.lab.canConnect(attacker, 500)).toBe(false);
  });

  it('refuses an alert from a rule match, so an <active-response> bound to a rule cannot lift blocks', async () => {
    setUp();
    const [attacker] = fx.lab.attacker4;
    await fx.execd.add('palisade-drop', ruleAlert(attacker));
    for (const alert of [ruleAlert(attacker), { manager: { name: 'm' }, data: { srcip: attacker } }, { rule: {}, data: { srcip: attacker } }]) {
      const run = await fx.execd.add('palisade-unblock', alert);
      expect(run.exitCode).toBe(255);
      expect(run.stderr).toContain('refuses an alert from a rule match');
    }
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'error', reason: expect.stringContaining('never from an <active-response> bound to a rule') });
    expect(await fx.lab.canConnect(attacker, 500)).toBe(false);
    expect(fx.install.stateEntries()).toHaveLength(1);
  });

  it('refuses a 5.x finding bound to a rule (it has wazuh.rule), as it refuses a 4.x alert from a rule match', async () => {
    setUp();
    const [attacker] = fx.lab.attacker4;
    await fx.execd.add('palisade-drop', ruleAlert(attacker));
    const run = await fx.execd.enable('palisade-unblock', finding5(attacker));
    expect(run.exitCode).toBe(255);
    expect(run.stderr).toContain('refuses an alert from a rule match (it has wazuh.rule)');
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'error', reason: expect.stringContaining('never from an <active-response> bound to a rule') });
    expect(await fx.lab.canConnect(attacker, 500)).toBe(false);
    expect(fx.install.stateEntries()).toEqual([expect.objectContaining({ address: attacker })]);

    // What the API sends in 5.x, its caller's document without wazuh.rule, lifts it.
    const lifted = await fx.execd.enable('palisade-unblock', { wazuh: { agent: { id: '001' } }, source: { ip: attacker } });
    expect(lifted.exitCode).toBe(0);
    expect(lifted.stderr).toContain(`unblocked ${attacker} on nftables`);
    expect(await fx.lab.canConnect(attacker)).toBe(true);
    expect(fx.install.stateEntries()).toEqual([]);
  });

  it('refuses malformed, shell-like and option-like addresses with Wazuh\'s words, and changes nothing', async () => {
    setUp();
    const [attacker] = fx.lab.attacker4;
    await fx.execd.add('palisade-drop', ruleAlert(attacker));
    for (const srcip of [`${attacker}; nft flush ruleset`, `$(reboot)`, '--help', `-${attacker}`, `${attacker} `, 42, '', `${attacker}\n`]) {
      const run = await bang('palisade-unblock', apiAlert(srcip));
      expect(run.exitCode, String(srcip)).toBe(255);
    }
    expect(await bang('palisade-unblock', apiAlert(attacker), ['--ttl', '1h'])).toMatchObject({ exitCode: 255 });
    expect(fx.install.logLines().filter((line) => line.endsWith("Cannot read 'srcip' from data or invalid IP format"))).toHaveLength(8);
    expect(await fx.lab.canConnect(attacker, 500)).toBe(false);
    expect(fx.install.stateEntries()).toHaveLength(1);
  });
});

describe('palisade-block', () => {
  it("holds the block as the fleet's: an alert's timed delete leaves it, palisade-unblock lifts it", async () => {
    setUp();
    const [attacker] = fx.lab.attacker4;
    const block = await bang('palisade-block', apiAlert(attacker), ['--ttl', '1h']);
    expect(block).toMatchObject({ exitCode: 0, keysLine: undefined });
    expect(block.stderr).toContain(`blocked ${attacker} on nftables for 1h at most`);
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'blocked', address: attacker, ttl: 3600, holder: 'fleet' });
    const [entry] = fx.install.stateEntries() as Array<{ holders: Array<{ by: string; key?: string; expiresAt: number }> }>;
    expect(entry!.holders).toEqual([expect.objectContaining({ by: 'fleet' })]);
    expect(entry!.holders[0]!.key).toBeUndefined();
    expect(entry!.holders[0]!.expiresAt - Date.now() / 1000).toBeLessThanOrEqual(3600);

    const alert = await fx.execd.add('palisade-drop', ruleAlert(attacker), { extraArgs: ['--ttl', '60'] });
    await fx.execd.expire(alert.rkey);
    expect(await fx.lab.canConnect(attacker, 500)).toBe(false);
    expect((await listed()).find((listedBlock) => listedBlock.address === attacker)?.holders?.map((holder) => holder.by)).toEqual(['fleet']);

    // A second palisade-block is the same hold, extended, never a second one.
    await bang('palisade-block', apiAlert(attacker), ['--ttl', '2h']);
    expect((fx.install.stateEntries()[0] as { holders: unknown[] }).holders).toHaveLength(1);

    expect((await bang('palisade-unblock', apiAlert(attacker))).exitCode).toBe(0);
    expect(await fx.lab.canConnect(attacker)).toBe(true);
    expect(fx.install.stateEntries()).toEqual([]);
  });

  it('keeps the allow-list, caps --ttl at max_ttl and refuses what it cannot honour', async () => {
    setUp();
    const [attacker] = fx.lab.attacker4;
    fx.install.writeConfig(`backend: nftables\nmax_ttl: 2h\nallowlist: [${fx.lab.attacker4[2]}]\n`);
    for (const address of ['127.0.0.1', fx.lab.attacker4[2]]) {
      const run = await bang('palisade-block', apiAlert(address), ['--ttl', '1h']);
      expect(run.exitCode).toBe(0);
      expect(run.stderr).toContain('skipped:');
    }
    expect(fx.install.stateEntries()).toEqual([]);
    expect((await bang('palisade-block', apiAlert(attacker), ['--ttl', '1h; reboot'])).exitCode).toBe(1);
    expect((await bang('palisade-block', apiAlert('; reboot'))).exitCode).toBe(255);
    expect(fx.install.stateEntries()).toEqual([]);

    expect((await bang('palisade-block', apiAlert(attacker), ['--ttl', '30d'])).exitCode).toBe(0);
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'blocked', ttl: 7200 });
    // A delete piped in by hand is not an unblock: execd never sends one, and the block stays.
    expect((await fx.execd.delete('palisade-block', apiAlert(attacker))).exitCode).toBe(0);
    expect(await fx.lab.canConnect(attacker, 500)).toBe(false);
  });
});

