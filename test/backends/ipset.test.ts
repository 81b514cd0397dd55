import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { Lab } from '../harness/netns.js';
import { parseAddress } from '../../src/runtime/address.js';
import { blockedProbeMs, block, describeXtablesBackend, labFor, filterRules, must, pathWithout, restorable, runVerb, type KernelView } from './xtables-suite.js';

/** `ipset save` of our two sets of a family: address → seconds left. */
async function elements(lab: Lab, family: 4 | 6): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for (const set of [`palisade${family}`, `palisade${family}net`]) {
    const listed = await lab.run(lab.protectedNs, ['ipset', 'save', set]).catch(() => '');
    for (const match of listed.matchAll(/^add \S+ (\S+) timeout (\d+)$/gm)) {
      const parsed = parseAddress(match[1], { allowNetwork: true });
      if (parsed.ok) found.set(parsed.block.address, Number(match[2]));
    }
  }
  return found;
}

const kernel: KernelView = {
  entries: async (lab, family) => [...(await elements(lab, family)).keys()],
  ruleLines: async (lab, family, variant) => (await filterRules(lab, family, variant)).filter((line) => line.includes('--match-set palisade')),
};

describeXtablesBackend('ipset', kernel);

describe('ipset: kernel timers, lost sets and refusals (real kernel)', () => {
  const lab = labFor('ipset');

  it('renews the timer of a present address on refresh, leaves it to an add, and says it was present', async () => {
    await must(lab, 'ipset', 'add', { block: block(lab.attacker4[0]), ttl: 100 });
    expect((await elements(lab, 4)).get(lab.attacker4[0])).toBeLessThanOrEqual(100);
    expect(await must(lab, 'ipset', 'add', { block: block(lab.attacker4[0]), ttl: 5000 })).toEqual({ result: 'present', restored: 0 });
    expect((await elements(lab, 4)).get(lab.attacker4[0])).toBeLessThanOrEqual(100);
    expect(await must(lab, 'ipset', 'refresh', { block: block(lab.attacker4[0]), ttl: 5000 })).toEqual({ result: 'present', restored: 0 });
    expect((await elements(lab, 4)).get(lab.attacker4[0])).toBeGreaterThan(4000);
    // list reads the same timer back
    expect(await must(lab, 'ipset', 'list')).toEqual([{ address: lab.attacker4[0], family: 4, prefix: 32, expiresIn: expect.any(Number) }]);
  });

  it('lets a block with a 2 s ttl expire by itself', async () => {
    await must(lab, 'ipset', 'add', { block: block(lab.attacker6[0]), ttl: 2 });
    expect(await lab.canConnect(lab.attacker6[0], blockedProbeMs)).toBe(false);
    const deadline = Date.now() + 10_000;
    let open = false;
    while (!open && Date.now() < deadline) open = await lab.canConnect(lab.attacker6[0], 500);
    expect(open).toBe(true);
    expect(await elements(lab, 6)).toEqual(new Map());
  });

  it('after its rules are removed and its sets destroyed, the next add recreates them and restores every block', async () => {
    const held = [restorable(lab.attacker4[0]), restorable(lab.attacker6[0]), restorable('2001:db8:300::/48')];
    for (const entry of held) await must(lab, 'ipset', 'add', { block: entry, ttl: 3600 });
    await lab.run(lab.protectedNs, ['iptables', '-w', '-F']);
    await lab.run(lab.protectedNs, ['ip6tables', '-w', '-F']);
    await lab.run(lab.protectedNs, ['ipset', 'destroy']);

    expect(await must(lab, 'ipset', 'add', { block: block(lab.attacker4[1]), ttl: 600, restorable: held })).toEqual({ result: 'added', restored: 3 });
    for (const from of [lab.attacker4[0], lab.attacker4[1], lab.attacker6[0], lab.attacker6[2]]) {
      expect(await lab.canConnect(from, blockedProbeMs)).toBe(false);
    }
    expect(await lab.canConnect(lab.attacker6[1])).toBe(true);
    // Restored with what the state file says is left of each, not a fresh ttl.
    expect((await elements(lab, 6)).get(lab.attacker6[0])).toBeLessThanOrEqual(3600);
  });

  it('fails with a BackendError naming ipset when ipset is missing, and changes nothing', async () => {
    const path = pathWithout('ipset');
    try {
      const output = await runVerb(lab, 'ipset', 'add', { block: block(lab.attacker4[0]), ttl: 600, path: path.dir });
      expect(output.ok).toBe(false);
      expect(output.error?.kind).toBe('BackendError');
      expect(output.error?.message).toMatch(/^ipset is not installed or not on PATH/);
      expect(output.error?.details?.tool).toBe('ipset');
    } finally {
      path.cleanup();
    }
    expect(await kernel.ruleLines(lab, 4)).toEqual([]);
    expect(await lab.canConnect(lab.attacker4[0])).toBe(true);
  });

  it("passes on ipset's own words and exit status when it refuses (a set of our name made without timeouts)", async () => {
    await lab.run(lab.protectedNs, ['ipset', 'create', 'palisade4', 'hash:ip']);
    const output = await runVerb(lab, 'ipset', 'add', { block: block(lab.attacker4[0]), ttl: 600 });
    expect(output.ok).toBe(false);
    expect(output.error?.kind).toBe('BackendError');
    expect(output.error?.message).toMatch(/^cannot add 192\.0\.2\.66 to set palisade4: ipset exited 1: .*Timeout cannot be used.*run flush/);
    expect(output.error?.details).toMatchObject({ tool: 'ipset', exitCode: 1, stderr: expect.stringContaining('without timeout support') });
    expect(await lab.canConnect(lab.attacker4[0])).toBe(true);
  });

  it('says to raise maxelem when a set is full', async () => {
    const config = { ipset: { maxelem: 1024 } };
    await must(lab, 'ipset', 'ensure', { config });
    const fill = Array.from({ length: 1024 }, (_, index) => `add palisade4 10.0.${index >> 8}.${index & 255} timeout 600\n`).join('');
    const [file, ...args] = lab.inNs(lab.protectedNs, ['ipset', 'restore', '-exist']);
    await execa(file!, args, { input: fill });
    const output = await runVerb(lab, 'ipset', 'add', { block: block(lab.attacker4[0]), ttl: 600, config });
    expect(output.error?.message).toContain('Hash is full');
    expect(output.error?.message).toContain('raise ipset.maxelem (now 1024)');
  });

  it('refuses a ttl that is not a whole number of seconds, and changes nothing', async () => {
    for (const ttl of [0, -5, 1.5]) {
      const output = await runVerb(lab, 'ipset', 'add', { block: block(lab.attacker4[0]), ttl });
      expect(output).toMatchObject({ ok: false, error: { kind: 'BackendError', message: expect.stringContaining('whole number of seconds') } });
    }
    expect(await kernel.ruleLines(lab, 4)).toEqual([]);
  });

  it('caps a ttl beyond the kernel limit at 2147483 s instead of failing', async () => {
    await must(lab, 'ipset', 'add', { block: block(lab.attacker4[0]), ttl: 90 * 86_400 });
    expect((await elements(lab, 4)).get(lab.attacker4[0])).toBeGreaterThan(2_147_000);
  });
});
