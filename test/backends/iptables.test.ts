import { describe, expect, it } from 'vitest';
import type { Lab } from '../harness/netns.js';
import { parseAddress } from '../../src/runtime/address.js';
import { blockedProbeMs, block, describeXtablesBackend, labFor, filterRules, must, pathWithout, restorable, runVerb, type KernelView } from './xtables-suite.js';

const kernel: KernelView = {
  entries: async (lab, family) => {
    const lines = await filterRules(lab, family);
    return lines.flatMap((line) => {
      const match = /^-A PALISADE -s (\S+) -j /.exec(line);
      const parsed = match ? parseAddress(match[1], { allowNetwork: true }) : undefined;
      return parsed?.ok ? [parsed.block.address] : [];
    });
  },
  ruleLines: async (lab, family, variant) => (await filterRules(lab, family, variant)).filter((line) => line.endsWith(' -j PALISADE')),
};

describeXtablesBackend('iptables', kernel);

describe('iptables: Docker, a deleted chain and refusals (real kernel)', () => {
  const lab = labFor('iptables');

  it('jumps from DOCKER-USER where Docker made it, and not when docker_user is off', async () => {
    await lab.run(lab.protectedNs, ['iptables', '-w', '-N', 'DOCKER-USER']);
    await lab.run(lab.protectedNs, ['iptables', '-w', '-A', 'DOCKER-USER', '-j', 'RETURN']);
    await must(lab, 'iptables', 'add', { block: block(lab.attacker4[0]), ttl: 600 });
    const rules = await filterRules(lab, 4);
    expect(rules.filter((line) => line.startsWith('-A DOCKER-USER'))).toEqual(['-A DOCKER-USER -j PALISADE', '-A DOCKER-USER -j RETURN']);
    // ip6tables has no DOCKER-USER here: nothing to jump from, and no error for it.
    expect(await kernel.ruleLines(lab, 6)).toEqual(['-A INPUT -j PALISADE', '-A FORWARD -j PALISADE']);

    await must(lab, 'iptables', 'flush');
    expect((await filterRules(lab, 4)).filter((line) => line.startsWith('-A DOCKER-USER'))).toEqual(['-A DOCKER-USER -j RETURN']);

    await must(lab, 'iptables', 'add', { block: block(lab.attacker4[0]), ttl: 600, config: { iptables: { docker_user: false } } });
    expect(await kernel.ruleLines(lab, 4)).toEqual(['-A INPUT -j PALISADE', '-A FORWARD -j PALISADE']);
    await lab.run(lab.protectedNs, ['iptables', '-w', '-X', 'DOCKER-USER']).catch(() => undefined);
  });

  it('recreates its chain after iptables -F -X and restores the blocks into it', async () => {
    const held = [restorable(lab.attacker4[0]), restorable('2001:db8:200::/48')];
    for (const entry of held) await must(lab, 'iptables', 'add', { block: entry, ttl: 3600 });
    for (const tool of ['iptables', 'ip6tables']) {
      await lab.run(lab.protectedNs, [tool, '-w', '-F']);
      await lab.run(lab.protectedNs, [tool, '-w', '-X']);
    }
    expect(await must(lab, 'iptables', 'delete', { block: block(lab.attacker4[1]), restorable: held })).toEqual({ result: 'absent', restored: 2 });
    for (const from of [lab.attacker4[0], lab.attacker6[0], lab.attacker6[1]]) expect(await lab.canConnect(from, blockedProbeMs)).toBe(false);
    expect(await lab.canConnect(lab.attacker4[1])).toBe(true);
  });

  it('deletes a block made under the other action (drop, then reject configured)', async () => {
    await must(lab, 'iptables', 'add', { block: block(lab.attacker4[0]), ttl: 600 });
    expect(await must(lab, 'iptables', 'delete', { block: block(lab.attacker4[0]), config: { action: 'reject' } })).toMatchObject({ result: 'deleted' });
    expect(await kernel.entries(lab, 4)).toEqual([]);
  });

  it('fails with a BackendError naming the tool when iptables-restore is missing', async () => {
    const path = pathWithout('iptables-nft-restore');
    try {
      const output = await runVerb(lab, 'iptables', 'add', { block: block(lab.attacker4[0]), ttl: 600, path: path.dir });
      expect(output).toMatchObject({
        ok: false,
        error: { kind: 'BackendError', message: expect.stringMatching(/^iptables-nft-restore is not installed or not on PATH/), details: { tool: 'iptables-nft-restore' } },
      });
    } finally {
      path.cleanup();
    }
    expect(await lab.canConnect(lab.attacker4[0])).toBe(true);
  });

  it("passes on iptables' own words and exit status when it refuses (a parent chain that does not exist)", async () => {
    const output = await runVerb(lab, 'iptables', 'add', { block: block(lab.attacker4[0]), ttl: 600, config: { iptables: { parent_chains: ['INPUT', 'NO-SUCH-CHAIN'] } } });
    expect(output.ok).toBe(false);
    expect(output.error?.kind).toBe('BackendError');
    expect(output.error?.message).toMatch(/^cannot restore chain PALISADE and the jumps to it: iptables-nft-restore exited [1-9]/);
    expect(output.error?.details).toMatchObject({ tool: 'iptables-nft-restore', exitCode: expect.any(Number), stderr: expect.stringMatching(/\S/) });
  });
});
