/** palisade status: the drop counters the kernel keeps for our rules, on every kernel backend. */
import { describe, expect, it } from 'vitest';
import { createInstall } from '../harness/install.js';
import { expectSuccess, nftablesLab, palisade, palisadeJson } from '../harness/verbs.js';

const fixture = nftablesLab();

describe.each(['nftables', 'ipset', 'iptables'] as const)('palisade status on %s', (backend) => {
  it('counts the packets our rules dropped', async () => {
    const { lab } = fixture;
    const install = createInstall({ config: `backend: ${backend}\n` });
    try {
      const [attacker] = lab.attacker4;
      expectSuccess(await palisade(install, ['block', attacker], { netns: lab.protectedNs }));
      // Each refused connection attempt is a SYN (and its retries) the rule drops.
      expect(await lab.canConnect(attacker, 1500)).toBe(false);
      const status = await palisadeJson<{ counters: Array<{ backend: string; name: string; packets: number; bytes: number }> }>(install, ['status'], { netns: lab.protectedNs });
      const ours = status.counters.filter((counter) => counter.backend === backend);
      expect(ours.length).toBeGreaterThan(0);
      expect(ours.reduce((sum, counter) => sum + counter.packets, 0)).toBeGreaterThan(0);
      expect(ours.reduce((sum, counter) => sum + counter.bytes, 0)).toBeGreaterThan(0);
      const human = expectSuccess(await palisade(install, ['status'], { netns: lab.protectedNs }));
      expect(human.stdout).toMatch(/DROP COUNTER/);
    } finally {
      await palisade(install, ['flush', '--yes'], { netns: lab.protectedNs });
      install.remove();
    }
  });
});
