/**
 * palisade-drop end to end on real kernels: execd's protocol, a real firewall in a network namespace,
 * real TCP connections from the attacker's namespace. Runs for every kernel backend; never skipped.
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendRunnerArgv } from './harness/bundle.js';
import { Execd } from './harness/execd.js';
import { createInstall, type Install } from './harness/install.js';
import { createLab, type Lab } from './harness/netns.js';

const alertFrom = (srcip: string) => ({
  rule: { level: 10, id: '5712', description: 'sshd: brute force trying to get access to the system.' },
  data: { srcip },
});

/** Commands that wipe each backend's rules the way a firewall reload does. */
const wipe: Record<string, string[][]> = {
  nftables: [['nft', 'flush', 'ruleset']],
  ipset: [['iptables', '-w', '-F'], ['ip6tables', '-w', '-F']],
  iptables: [['iptables', '-w', '-F'], ['ip6tables', '-w', '-F']],
};

describe.each(['nftables', 'ipset', 'iptables'] as const)('palisade-drop on %s', (backend) => {
  let lab: Lab;
  let install: Install;
  let execd: Execd;
  beforeAll(async () => {
    lab = await createLab();
    install = createInstall({ config: `backend: ${backend}\nallowlist: [${lab.attacker4[2]}/32]\n` });
    execd = new Execd(install, { netns: lab.protectedNs });
  });
  afterAll(async () => {
    await lab?.destroy();
    install?.remove();
  });

  const kernelBlocks = async () => {
    const argv = lab.inNs(lab.protectedNs, await backendRunnerArgv(backend, 'list', { config: { backend } }));
    const { stdout } = await execa(argv[0]!, argv.slice(1));
    return (JSON.parse(stdout) as { outcome: Array<{ address: string }> }).outcome.map((block) => block.address).sort();
  };

  it('blocks the attacker and only the attacker, then the delete lets it back (IPv4)', async () => {
    const [attacker, neighbour] = lab.attacker4;
    expect(await lab.canConnect(attacker)).toBe(true);
    const run = await execd.add('palisade-drop', alertFrom(attacker));
    expect(run.decision).toBe('continue');
    expect(run.exitCode).toBe(0);
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(neighbour)).toBe(true);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'blocked', backend, address: attacker, result: 'added' });
    expect((await execd.expire(run.rkey)).exitCode).toBe(0);
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(await kernelBlocks()).toEqual([]);
  });

  it('blocks and unblocks an IPv6 attacker', async () => {
    const [attacker, neighbour] = lab.attacker6;
    expect(await lab.canConnect(attacker)).toBe(true);
    const run = await execd.add('palisade-drop', alertFrom(attacker));
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(neighbour)).toBe(true);
    await execd.expire(run.rkey);
    expect(await lab.canConnect(attacker)).toBe(true);
  });

  it('never blocks an allow-listed address', async () => {
    const spare = lab.attacker4[2];
    const run = await execd.add('palisade-drop', alertFrom(spare));
    expect(run.keysLine).toBeUndefined();
    expect(await lab.canConnect(spare)).toBe(true);
    expect(await kernelBlocks()).toEqual([]);
  });

  it('on abort keeps the block and renews it', async () => {
    const attacker = lab.attacker4[0];
    const first = await execd.add('palisade-drop', alertFrom(attacker));
    const again = await execd.add('palisade-drop', alertFrom(attacker));
    expect(again.decision).toBe('abort');
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'refreshed', backend, address: attacker });
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    await execd.expire(first.rkey);
    expect(await lab.canConnect(attacker)).toBe(true);
  });

  it('after a firewall reload wiped its rules, the next invocation restores every block', async () => {
    const [attacker] = lab.attacker4;
    const [attacker6] = lab.attacker6;
    const runs = [await execd.add('palisade-drop', alertFrom(attacker)), await execd.add('palisade-drop', alertFrom(attacker6))];
    for (const argv of wipe[backend]!) await lab.run(lab.protectedNs, argv);
    expect(await lab.canConnect(attacker)).toBe(true);
    await execd.add('palisade-drop', alertFrom('198.51.100.200'));
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'blocked', restored: 2 });
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(attacker6, 500)).toBe(false);
    for (const run of runs) await execd.expire(run.rkey);
    await execd.expire('palisade-drop-198.51.100.200');
    expect(await lab.canConnect(attacker)).toBe(true);
  });

  it("the guide's echo test blocks and unblocks by hand", async () => {
    const [attacker] = lab.attacker4;
    const line = (command: string) => `echo '{"version":1,"command":"${command}","parameters":{"alert":{"data":{"srcip":"${attacker}"}}}}' | ${install.commandPath('palisade-drop')}`;
    const add = await execa('ip', ['netns', 'exec', lab.protectedNs, 'sh', '-c', line('add')]);
    expect(add.stderr).toContain(`blocked ${attacker} on ${backend}`);
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    const del = await execa('ip', ['netns', 'exec', lab.protectedNs, 'sh', '-c', line('delete')]);
    expect(del.stderr).toContain(`unblocked ${attacker}`);
    expect(await lab.canConnect(attacker)).toBe(true);
  });

  it('20 invocations at once for 20 addresses leave 20 blocks and 20 state entries', async () => {
    const addresses = Array.from({ length: 20 }, (_, i) => `198.51.100.${i + 1}`);
    const runs = await Promise.all(addresses.map((address) => new Execd(install, { netns: lab.protectedNs }).add('palisade-drop', alertFrom(address))));
    expect(runs.map((run) => run.exitCode)).toEqual(addresses.map(() => 0));
    expect(await kernelBlocks()).toEqual([...addresses].sort());
    expect(install.stateEntries().map((entry) => entry.address).sort()).toEqual([...addresses].sort());
    await Promise.all(addresses.map((address) => new Execd(install, { netns: lab.protectedNs }).delete('palisade-drop', alertFrom(address))));
    expect(await kernelBlocks()).toEqual([]);
    expect(install.stateEntries()).toEqual([]);
  });

  if (backend !== 'iptables') {
    it('a short --ttl expires in the kernel by itself', async () => {
      const [attacker] = lab.attacker4;
      await execd.add('palisade-drop', alertFrom(attacker), { extraArgs: ['--ttl', '4'], timeout: 0 });
      expect(await lab.canConnect(attacker, 500)).toBe(false);
      // Margins for a loaded machine: the probe above must come before expiry, the one below after it.
      await new Promise((resolve) => setTimeout(resolve, 5000));
      expect(await lab.canConnect(attacker)).toBe(true);
    });
  }
});
