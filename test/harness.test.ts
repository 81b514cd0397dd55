import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendRunnerArgv } from './harness/bundle.js';
import { createLab, type Lab } from './harness/netns.js';

describe('the namespace lab', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await createLab();
  });
  afterAll(async () => lab?.destroy());

  it("is named with this run's prefix, so the run's teardown can remove what a killed worker left", () => {
    expect(lab.protectedNs).toMatch(new RegExp(`^${process.env.PALISADE_LAB_PREFIX}-[0-9a-f]{6}-prot$`));
    expect(process.env.PALISADE_LAB_PREFIX).toMatch(/^pal[0-9a-f]{4}$/);
  });

  it('connects from every attacker address until something blocks it', async () => {
    for (const from of [...lab.attacker4, ...lab.attacker6]) expect(await lab.canConnect(from)).toBe(true);
  });

  it('sees a drop rule: the probe reports a blocked address as unreachable', async () => {
    await lab.run(lab.protectedNs, ['nft', 'add table inet probe']);
    await lab.run(lab.protectedNs, ['nft', 'add chain inet probe in { type filter hook input priority 0; }']);
    await lab.run(lab.protectedNs, ['nft', `add rule inet probe in ip saddr ${lab.attacker4[0]} drop`]);
    expect(await lab.canConnect(lab.attacker4[0], 500)).toBe(false);
    expect(await lab.canConnect(lab.attacker4[1])).toBe(true);
    await lab.run(lab.protectedNs, ['nft', 'delete table inet probe']);
    expect(await lab.canConnect(lab.attacker4[0])).toBe(true);
  });

  it('runs a backend verb inside the namespace', async () => {
    const argv = await backendRunnerArgv('dry-run', 'add', { block: { address: '192.0.2.66', family: 4, prefix: 32 } });
    const { stdout } = await execa(lab.inNs(lab.protectedNs, argv)[0]!, lab.inNs(lab.protectedNs, argv).slice(1));
    expect(JSON.parse(stdout)).toEqual({ ok: true, outcome: { result: 'added', restored: 0 } });
  });
});
