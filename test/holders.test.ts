/**
 * Who holds a block (issue 14, item 3): the operator, or an AR command with its execd key. An add never
 * shortens an expiry, a delete lifts only its own hold, the block goes with its last holder, and a rule
 * Palisade did not make is never taken over nor removed. Real nftables in a namespace lab, a real HTTPS
 * fixture on loopback, the shipped binary driven by the execd simulator and the operator CLI.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alertFrom } from './harness/alerts.js';
import { Execd } from './harness/execd.js';
import { createInstall } from './harness/install.js';
import { startFirewallServer } from './fixtures/http-firewall/server.js';
import { labWithInstalls, palisadeJson } from './harness/verbs.js';

const week = 7 * 86_400;

const fx = labWithInstalls();
const { setUp, cli } = fx;

/** The kernel's own view of one element of our addr4 set: its timeout and the seconds left, or undefined. */
async function kernelElement(address: string): Promise<{ timeout: number; expires: number } | undefined> {
  const listing = JSON.parse(await fx.lab.run(fx.lab.protectedNs, ['nft', '-j', 'list', 'set', 'inet', 'palisade', 'addr4'])) as {
    nftables: Array<{ set?: { elem?: Array<{ elem?: { val: string; timeout: number; expires: number } } | string> } }>;
  };
  for (const element of listing.nftables.find((item) => item.set)?.set?.elem ?? []) {
    if (typeof element === 'object' && element.elem?.val === address) return { timeout: element.elem.timeout, expires: element.elem.expires };
  }
  return undefined;
}

type Listed = { blocks: Array<{ address: string; holders?: Array<{ by: string; key?: string; expiresAt: number }> }> };
const holdersOf = async (address: string) =>
  (await palisadeJson<Listed>(fx.install, ['list'], { netns: fx.lab.protectedNs })).blocks.find((block) => block.address === address)?.holders?.map((holder) => holder.by).sort();

describe('holders of a block', () => {
  it("an alert and its delete leave the operator's 7-day block in place", async () => {
    setUp();
    const [attacker] = fx.lab.attacker4;
    expect((await cli('block', attacker, '--for', '7d')).exitCode).toBe(0);
    const run = await fx.execd.add('palisade-drop', alertFrom(attacker));
    expect(run.exitCode).toBe(0);
    expect(await holdersOf(attacker)).toEqual(['operator', 'palisade-drop']);
    const table = await cli('list');
    expect(table.stdout).toMatch(new RegExp(`^${attacker.replaceAll('.', '\\.')} +nftables +operator, palisade-drop +`, 'm'));

    const removal = await fx.execd.expire(run.rkey);
    expect(removal.exitCode).toBe(0);
    expect(removal.stderr).toContain(`${attacker} stays blocked on nftables: still held by operator`);
    expect(await fx.lab.canConnect(attacker, 500)).toBe(false);
    expect(await holdersOf(attacker)).toEqual(['operator']);
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'released', address: attacker, heldBy: [{ by: 'operator' }] });

    // The operator's unblock lets it through at once.
    expect((await cli('unblock', attacker)).exitCode).toBe(0);
    expect(await fx.lab.canConnect(attacker)).toBe(true);
    expect(fx.install.stateEntries()).toEqual([]);
  });

  it("an alert with --ttl 60 does not cut the operator's 7-day kernel timer", async () => {
    setUp();
    const [attacker] = fx.lab.attacker4;
    expect((await cli('block', attacker, '--for', '7d')).exitCode).toBe(0);
    const run = await fx.execd.add('palisade-drop', alertFrom(attacker), { extraArgs: ['--ttl', '60'] });
    expect(run.exitCode).toBe(0);
    const element = await kernelElement(attacker);
    expect(element?.timeout).toBeGreaterThan(week - 120);
    expect(element?.expires).toBeGreaterThan(week - 120);
    const [entry] = fx.install.stateEntries() as Array<{ expiresAt: number; holders: Array<{ by: string; expiresAt: number }> }>;
    expect(entry!.expiresAt - Date.now() / 1000).toBeGreaterThan(week - 120);
    // The alert's own hold is the minute it asked for.
    expect(entry!.holders.find((holder) => holder.by === 'palisade-drop')!.expiresAt - Date.now() / 1000).toBeLessThanOrEqual(60);
  });

  it('two commands hold one address: the first delete keeps the block, the last one lifts it', async () => {
    setUp();
    const [attacker] = fx.lab.attacker4;
    const first = await fx.execd.add('palisade-drop', alertFrom(attacker));
    const second = await fx.execd.add('palisade-nftables-drop', alertFrom(attacker));
    expect([first.decision, second.decision]).toEqual(['continue', 'continue']);
    expect(await holdersOf(attacker)).toEqual(['palisade-drop', 'palisade-nftables-drop']);

    await fx.execd.expire(first.rkey);
    expect(await fx.lab.canConnect(attacker, 500)).toBe(false);
    expect(await holdersOf(attacker)).toEqual(['palisade-nftables-drop']);

    await fx.execd.expire(second.rkey);
    expect(await fx.lab.canConnect(attacker)).toBe(true);
    expect(await kernelElement(attacker)).toBeUndefined();
    expect(fx.install.stateEntries()).toEqual([]);
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'unblocked', address: attacker, result: 'deleted' });
  });

  it('a second alert of the same command extends its hold and never shortens it', async () => {
    setUp();
    const [attacker] = fx.lab.attacker4;
    await fx.execd.add('palisade-drop', alertFrom(attacker), { extraArgs: ['--ttl', '3600'] });
    // A command without <timeout> in ar.conf: execd answers continue every time, and sends no delete.
    await fx.execd.add('palisade-drop', alertFrom(attacker), { extraArgs: ['--ttl', '60'], timeout: 0 });
    expect((await kernelElement(attacker))?.timeout).toBeGreaterThan(3500);
    const [entry] = fx.install.stateEntries() as Array<{ holders: Array<{ by: string; expiresAt: number }> }>;
    expect(entry!.holders).toHaveLength(1);
    expect(entry!.holders[0]!.expiresAt - Date.now() / 1000).toBeGreaterThan(3500);
  });

  it('an nftables element Palisade did not add is never taken over, renewed or removed', async () => {
    setUp();
    const [attacker, neighbour] = fx.lab.attacker4;
    // The table exists (an earlier block), and someone adds an element to our set by hand.
    await fx.execd.add('palisade-drop', alertFrom(neighbour));
    await fx.lab.run(fx.lab.protectedNs, ['nft', 'add', 'element', 'inet', 'palisade', 'addr4', `{ ${attacker} timeout 1h }`]);

    const run = await fx.execd.add('palisade-drop', alertFrom(attacker), { extraArgs: ['--ttl', '86400'] });
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain(`skipped: ${attacker} is already blocked on nftables by a rule Palisade did not make`);
    expect(fx.install.logRecords().at(-1)).toMatchObject({ event: 'skipped', address: attacker });
    expect((await kernelElement(attacker))?.timeout).toBe(3600);
    expect(fx.install.stateEntries().map((entry) => entry.address)).toEqual([neighbour]);

    await fx.execd.expire(run.rkey);
    expect(await kernelElement(attacker)).toBeDefined();
  });

  it('an entry written before holders migrates to a hold of the command it names', async () => {
    setUp();
    const [attacker, neighbour] = fx.lab.attacker4;
    // Old-format entries, as the previous version wrote them: an operator's and an alert's.
    expect((await cli('block', attacker, '--for', '7d')).exitCode).toBe(0);
    const alertRun = await fx.execd.add('palisade-drop', alertFrom(neighbour));
    const now = Math.floor(Date.now() / 1000);
    const legacy = (address: string, command: string, expiresAt: number) =>
      `${JSON.stringify({ address, family: 4, prefix: 32, backend: 'nftables', command, since: now - 60, expiresAt, reason: { ruleId: '5712' } })}\n`;
    writeFileSync(join(fx.install.blocksDir, `nftables-${attacker}.json`), legacy(attacker, 'palisade', now + week));
    writeFileSync(join(fx.install.blocksDir, `nftables-${neighbour}.json`), legacy(neighbour, 'palisade-drop', now + 600));
    expect(await holdersOf(attacker)).toEqual(['operator']);
    expect(await holdersOf(neighbour)).toEqual(['palisade-drop']);

    // An alert's delete does not lift the operator's old block; the alert's own old block goes with its delete.
    await fx.execd.delete('palisade-drop', alertFrom(attacker));
    expect(await fx.lab.canConnect(attacker, 500)).toBe(false);
    await fx.execd.expire(alertRun.rkey);
    expect(await fx.lab.canConnect(neighbour)).toBe(true);
    expect(fx.install.stateEntries().map((entry) => entry.address)).toEqual([attacker]);
  });
});

describe('holders on an HTTP firewall', () => {
  it('a rule the generic API already holds (409) is never adopted nor deleted', async () => {
    const token = 'tok-holders-0b7c2e91aa';
    const server = await startFirewallServer('generic', { token });
    try {
      fx.install = createInstall();
      const tokenFile = join(fx.install.root, 'etc', 'firewall.token');
      writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
      fx.install.writeConfig(`http:\n  preset: generic\n  url: ${server.url}\n  ca_file: ${server.caFile}\n  token_file: ${tokenFile}\n`);
      const http = new Execd(fx.install);
      server.seed({ source: '198.51.100.90', duration: 86_400, reason: 'blocked by the network team' });

      const run = await http.add('palisade-http-drop', alertFrom('198.51.100.90'));
      expect(run.exitCode).toBe(0);
      expect(run.stderr).toContain('skipped: 198.51.100.90 is already blocked on http by a rule Palisade did not make');
      expect(fx.install.stateEntries()).toEqual([]);

      await http.expire(run.rkey);
      expect(server.rules()).toEqual([{ source: '198.51.100.90', duration: 86_400, reason: 'blocked by the network team' }]);
      expect(server.requests().filter((request) => request.method === 'DELETE')).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
