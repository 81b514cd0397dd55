/**
 * The nftables backend against a real kernel: every verb runs in a fresh node process inside the protected
 * namespace, and the outcome is judged by real TCP connections from the attacker namespace.
 */
import { mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ActiveBlock, Block } from '../../src/backends/backend.js';
import { parseAddress } from '../../src/runtime/address.js';
import { runBackend } from '../harness/backend-run.js';
import { createLab, type Lab } from '../harness/netns.js';

interface RunnerArgs {
  config?: object;
  block?: Block;
  ttl?: number;
  restorable?: ActiveBlock[];
  stateDir?: string;
}
type RunnerResult = { ok: true; outcome: unknown } | { ok: false; error: { kind: string; message: string; details?: { stderr?: string } } };

function block(text: string): Block {
  const parsed = parseAddress(text, { allowNetwork: true });
  if (!parsed.ok) throw new Error(`test address ${text}: ${parsed.reason}`);
  return parsed.block;
}

/** A state-file entry that expires `inSeconds` from now (negative: already expired). */
function stateEntry(text: string, inSeconds: number): ActiveBlock {
  return { ...block(text), expiresAt: Math.floor(Date.now() / 1000) + inSeconds };
}

describe('nftables backend', () => {
  let lab: Lab;
  const logDir = mkdtempSync(join(tmpdir(), 'palisade-nft-'));

  beforeAll(async () => {
    lab = await createLab();
  });
  afterAll(async () => lab?.destroy());
  afterEach(async () => {
    await lab.run(lab.protectedNs, ['nft', 'flush', 'ruleset']);
  });

  /** env is set inside the namespace, so a PATH without nft still finds `ip` outside it. */
  async function runVerb(verb: string, args: RunnerArgs = {}, env: Record<string, string> = {}): Promise<RunnerResult> {
    const { stdout: _stdout, stderr: _stderr, ...result } = await runBackend('nftables', verb, args, { netns: lab.protectedNs, env });
    return result as RunnerResult;
  }

  async function expectOutcome(verb: string, args: RunnerArgs = {}): Promise<unknown> {
    const result = await runVerb(verb, args);
    if (!result.ok) throw new Error(`${verb} failed: ${result.error.message}`);
    return result.outcome;
  }

  /** The elements of one of our sets as the kernel reports them. */
  async function elements(set: string): Promise<Array<{ val: unknown; timeout?: number; expires?: number }>> {
    const listing = JSON.parse(await lab.run(lab.protectedNs, ['nft', '-j', 'list', 'set', 'inet', 'palisade', set])) as {
      nftables: Array<{ set?: { elem?: unknown[] } }>;
    };
    const found = listing.nftables.find((item) => item.set)?.set?.elem ?? [];
    return found.map((element) =>
      typeof element === 'object' && element !== null && 'elem' in element
        ? (element as { elem: { val: unknown; timeout?: number; expires?: number } }).elem
        : { val: element },
    );
  }

  const blocked = async (from: string) => !(await lab.canConnect(from, 700));

  it.each(['IPv4', 'IPv6'] as const)('drops an %s attacker, spares its neighbour, and lets it back in after delete', async (family) => {
    const [attacker, neighbour] = family === 'IPv4' ? lab.attacker4 : lab.attacker6;
    expect(await lab.canConnect(attacker)).toBe(true);

    expect(await expectOutcome('add', { block: block(attacker), ttl: 600 })).toEqual({ result: 'added', restored: 0 });
    expect(await blocked(attacker)).toBe(true);
    expect(await lab.canConnect(neighbour)).toBe(true);

    expect(await expectOutcome('delete', { block: block(attacker) })).toEqual({ result: 'deleted', restored: 0 });
    expect(await lab.canConnect(attacker)).toBe(true);
  });

  it('blocks a whole network, alongside single addresses, and list() reports both', async () => {
    // 192.0.2.64/28 holds .66 and .77 but not .88.
    const [inside, alsoInside, outside] = lab.attacker4;
    await expectOutcome('add', { block: block('192.0.2.64/28'), ttl: 600 });
    await expectOutcome('add', { block: block(outside), ttl: 300 });
    expect(await blocked(inside)).toBe(true);
    expect(await blocked(alsoInside)).toBe(true);
    expect(await blocked(outside)).toBe(true);

    const listed = (await expectOutcome('list')) as Array<Block & { expiresIn?: number }>;
    expect(listed.map(({ address, family, prefix }) => ({ address, family, prefix })).sort((a, b) => a.address.localeCompare(b.address))).toEqual([
      block('192.0.2.64/28'),
      block(outside),
    ]);
    expect(listed.every(({ expiresIn }) => expiresIn !== undefined && expiresIn > 250 && expiresIn <= 600)).toBe(true);

    await expectOutcome('delete', { block: block('192.0.2.64/28') });
    expect(await lab.canConnect(inside)).toBe(true);
    expect(await blocked(outside)).toBe(true);
  });

  it('answers "present" for a block it already holds, leaving its timer to an add and renewing it on refresh', async () => {
    const [attacker, neighbour] = lab.attacker4;
    await expectOutcome('add', { block: block(attacker), ttl: 60 });
    // An add never changes an element it did not make: it may not be Palisade's.
    expect(await expectOutcome('add', { block: block(attacker), ttl: 3600 })).toEqual({ result: 'present', restored: 0 });
    let [element] = await elements('addr4');
    expect(element).toMatchObject({ val: attacker, timeout: 60 });
    expect(await expectOutcome('refresh', { block: block(attacker), ttl: 3600 })).toEqual({ result: 'present', restored: 0 });
    [element] = await elements('addr4');
    expect(element).toMatchObject({ val: attacker, timeout: 3600 });
    expect(element!.expires).toBeGreaterThan(3500);

    expect(await expectOutcome('refresh', { block: block(attacker), ttl: 7200 })).toEqual({ result: 'present', restored: 0 });
    [element] = await elements('addr4');
    expect(element).toMatchObject({ val: attacker, timeout: 7200 });
    expect(await blocked(attacker)).toBe(true);

    // A refresh of a block the kernel lost puts it back.
    expect(await expectOutcome('refresh', { block: block(neighbour), ttl: 600 })).toEqual({ result: 'added', restored: 0 });
    expect(await blocked(neighbour)).toBe(true);
  });

  it('answers "absent" when deleting an address it does not hold, with or without its table', async () => {
    await expectOutcome('ensure');
    expect(await expectOutcome('delete', { block: block(lab.attacker4[2]) })).toEqual({ result: 'absent', restored: 0 });

    await lab.run(lab.protectedNs, ['nft', 'flush', 'ruleset']);
    const outcome = await expectOutcome('delete', {
      block: block(lab.attacker4[2]),
      restorable: [stateEntry(lab.attacker4[0], 600), stateEntry(lab.attacker4[2], 600)],
    });
    // The table came back with the state file's other block, not with the one being deleted.
    expect(outcome).toEqual({ result: 'absent', restored: 1 });
    expect(await blocked(lab.attacker4[0])).toBe(true);
    expect(await lab.canConnect(lab.attacker4[2])).toBe(true);
  });

  it('still removes the block when a delete finds one of the sets gone and repairs the table', async () => {
    const [attacker, neighbour] = lab.attacker4;
    await expectOutcome('add', { block: block(attacker), ttl: 600 });
    for (const chain of ['input', 'forward']) await lab.run(lab.protectedNs, ['nft', 'flush', 'chain', 'inet', 'palisade', chain]);
    await lab.run(lab.protectedNs, ['nft', 'delete', 'set', 'inet', 'palisade', 'net6']);

    const outcome = await expectOutcome('delete', { block: block(attacker), restorable: [stateEntry(neighbour, 600)] });
    expect(outcome).toEqual({ result: 'absent', restored: 1 });
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(await blocked(neighbour)).toBe(true);
    expect(await elements('net6')).toEqual([]);
  });

  it('after `nft flush ruleset`, the next add brings back every unexpired block and says so in the log', async () => {
    const [attacker, neighbour, spare] = lab.attacker4;
    const [attacker6] = lab.attacker6;
    await expectOutcome('add', { block: block(attacker), ttl: 600 });
    await lab.run(lab.protectedNs, ['nft', 'flush', 'ruleset']);
    expect(await lab.canConnect(attacker)).toBe(true);

    const logPath = join(logDir, 'restore.log');
    const result = await runVerb(
      'add',
      {
        block: block(neighbour),
        ttl: 600,
        restorable: [
          stateEntry(attacker, 500),
          stateEntry(attacker6, 400),
          stateEntry('198.51.100.0/24', 300),
          stateEntry(spare, -10), // expired: must stay unblocked
        ],
      },
      { RUNNER_LOG: logPath },
    );
    expect(result).toEqual({ ok: true, outcome: { result: 'added', restored: 3 } });

    expect(await blocked(attacker)).toBe(true);
    expect(await blocked(neighbour)).toBe(true);
    expect(await blocked(attacker6)).toBe(true);
    expect(await lab.canConnect(spare)).toBe(true);
    const restored = await elements('addr4');
    expect(restored.map(({ val }) => val).sort()).toEqual([attacker, neighbour].sort());
    // Each restored block keeps what was left of its time, not a fresh full timeout.
    expect(restored.find(({ val }) => val === attacker)!.timeout).toBeLessThanOrEqual(500);
    expect(await elements('net4')).toMatchObject([{ val: { prefix: { addr: '198.51.100.0', len: 24 } } }]);

    const line = readFileSync(logPath, 'utf8').trim();
    const record = JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>;
    expect(record).toMatchObject({ level: 'warn', event: 'firewall-restored', restored: 3, replaced: false });
    expect(record).not.toHaveProperty('command');
  });

  it('repairs a flushed chain and a deleted chain whenever it declares the chains (every run, without a state dir)', async () => {
    const [attacker, neighbour, spare] = lab.attacker4;
    await expectOutcome('add', { block: block(attacker), ttl: 600 });
    await lab.run(lab.protectedNs, ['nft', 'flush', 'chain', 'inet', 'palisade', 'input']);
    expect(await lab.canConnect(attacker)).toBe(true);

    expect(await expectOutcome('add', { block: block(neighbour), ttl: 600 })).toEqual({ result: 'added', restored: 0 });
    expect(await blocked(attacker)).toBe(true);
    expect(await blocked(neighbour)).toBe(true);

    await lab.run(lab.protectedNs, ['nft', 'delete', 'chain', 'inet', 'palisade', 'input']);
    expect(await lab.canConnect(attacker)).toBe(true);
    await expectOutcome('add', { block: block(spare), ttl: 600 });
    for (const address of lab.attacker4) expect(await blocked(address)).toBe(true);
  });

  /** Our chains' rules with their kernel handles: a handle changes only when a rule is declared again. */
  const ruleHandles = async () => (await lab.run(lab.protectedNs, ['nft', '-a', 'list', 'table', 'inet', 'palisade'])).match(/# handle \d+/g) ?? [];

  describe('with a state dir, as palisade-drop runs it', () => {
    let stateDir: string;
    const stamp = () => join(stateDir, 'nftables-palisade.declared');
    /** As if the chains had been declared two minutes ago. */
    const ageStamp = () => utimesSync(stamp(), new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    beforeEach(() => {
      stateDir = mkdtempSync(join(tmpdir(), 'palisade-nft-state-'));
    });

    it('changes elements only while the declaration is fresh (declaring chains costs the kernel ~12 ms)', async () => {
      const [attacker, neighbour] = lab.attacker4;
      await expectOutcome('add', { block: block(attacker), ttl: 600, stateDir });
      const before = await ruleHandles();
      expect(before.length).toBeGreaterThan(0);
      expect(await expectOutcome('add', { block: block(neighbour), ttl: 600, stateDir })).toEqual({ result: 'added', restored: 0 });
      expect(await expectOutcome('add', { block: block(neighbour), ttl: 900, stateDir })).toEqual({ result: 'present', restored: 0 });
      expect((await elements('addr4')).find(({ val }) => val === neighbour)).toMatchObject({ timeout: 600 });
      expect(await expectOutcome('refresh', { block: block(neighbour), ttl: 900, stateDir })).toEqual({ result: 'present', restored: 0 });
      expect((await elements('addr4')).find(({ val }) => val === neighbour)).toMatchObject({ timeout: 900 });
      expect(await expectOutcome('delete', { block: block(attacker), stateDir })).toEqual({ result: 'deleted', restored: 0 });
      expect(await expectOutcome('delete', { block: block('198.51.100.0/24'), stateDir })).toEqual({ result: 'absent', restored: 0 });
      expect(await ruleHandles()).toEqual(before);
      expect(await blocked(neighbour)).toBe(true);
      expect(await lab.canConnect(attacker)).toBe(true);
    });

    it('sees a reload that took the table away at once, fresh declaration or not, and puts every block back', async () => {
      const [attacker, neighbour] = lab.attacker4;
      await expectOutcome('add', { block: block(attacker), ttl: 600, stateDir });
      await lab.run(lab.protectedNs, ['nft', 'flush', 'ruleset']);
      const outcome = await expectOutcome('add', { block: block(neighbour), ttl: 600, stateDir, restorable: [stateEntry(attacker, 500)] });
      expect(outcome).toEqual({ result: 'added', restored: 1 });
      expect(await blocked(attacker)).toBe(true);
      expect(await blocked(neighbour)).toBe(true);

      await lab.run(lab.protectedNs, ['nft', 'flush', 'ruleset']);
      expect(await expectOutcome('delete', { block: block(neighbour), stateDir, restorable: [stateEntry(attacker, 500)] })).toEqual({ result: 'absent', restored: 1 });
      expect(await blocked(attacker)).toBe(true);
      expect(await lab.canConnect(neighbour)).toBe(true);
    });

    it('declares the chains again once the declaration is a minute old: a planted accept rule goes', async () => {
      const [attacker, neighbour] = lab.attacker4;
      await expectOutcome('add', { block: block(attacker), ttl: 600, stateDir });
      await lab.run(lab.protectedNs, ['nft', 'insert', 'rule', 'inet', 'palisade', 'input', 'ip', 'saddr', attacker, 'accept']);
      expect(await lab.canConnect(attacker)).toBe(true);
      ageStamp();
      expect(await expectOutcome('add', { block: block(neighbour), ttl: 600, stateDir })).toEqual({ result: 'added', restored: 0 });
      expect(await blocked(attacker)).toBe(true);
      expect(await blocked(neighbour)).toBe(true);
      expect(await lab.run(lab.protectedNs, ['nft', 'list', 'chain', 'inet', 'palisade', 'input'])).not.toMatch(/accept$/m);
    });

    it('applies a changed configuration at the next add, however fresh the declaration of the old one', async () => {
      const [attacker, neighbour] = lab.attacker4;
      await expectOutcome('add', { block: block(attacker), ttl: 600, stateDir });
      expect(await lab.connectOutcome(attacker, 1500)).toBe('timeout');
      await expectOutcome('add', { config: { action: 'reject' }, block: block(neighbour), ttl: 600, stateDir });
      expect(await lab.connectOutcome(attacker, 5000)).toBe('ECONNREFUSED');
    });
  });

  it('lets an element with a short timeout expire by itself', async () => {
    const [attacker] = lab.attacker6;
    await expectOutcome('add', { block: block(attacker), ttl: 2 });
    expect(await blocked(attacker)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(await elements('addr6')).toEqual([]);
  });

  it('with action reject, a blocked client is refused at once instead of waiting for a timeout', async () => {
    const config = { action: 'reject' };
    await expectOutcome('add', { config, block: block(lab.attacker4[0]), ttl: 600 });
    await expectOutcome('add', { config, block: block(lab.attacker6[0]), ttl: 600 });
    // A dropped SYN would leave the client waiting the whole 5 s; a reset fails it with ECONNREFUSED.
    expect(await lab.connectOutcome(lab.attacker4[0], 5000)).toBe('ECONNREFUSED');
    expect(await lab.connectOutcome(lab.attacker6[0], 5000)).toBe('ECONNREFUSED');
    expect(await lab.connectOutcome(lab.attacker4[1], 5000)).toBe('connected');
  });

  it('surfaces nft\'s own message when it refuses a block, and changes nothing', async () => {
    await expectOutcome('add', { block: block('192.0.2.64/28'), ttl: 600 });
    const result = await runVerb('add', { block: block('192.0.2.0/24'), ttl: 600 });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.kind).toBe('BackendError');
    expect(result.error.message).toContain('nft refused to block 192.0.2.0/24: interval overlaps with an existing one');
    expect(result.error.details?.stderr).toContain('interval overlaps with an existing one');
    expect(await elements('net4')).toMatchObject([{ val: { prefix: { addr: '192.0.2.64', len: 28 } } }]);
    expect(await lab.canConnect(lab.attacker4[2])).toBe(true);
  });

  it('surfaces nft\'s own message when another program owns a table of the same name', async () => {
    // `flags owner` makes the table writable only through its creator's netlink socket.
    const owner = execa('ip', ['netns', 'exec', lab.protectedNs, 'nft', '-i'], { stdin: 'pipe', reject: false });
    try {
      owner.stdin!.write('add table inet palisade { flags owner; }\n');
      for (let tries = 0; !(await lab.run(lab.protectedNs, ['nft', 'list', 'tables'])).includes('palisade'); tries += 1) {
        if (tries > 50) throw new Error('the owning nft did not create its table');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const result = await runVerb('add', { block: block(lab.attacker4[0]), ttl: 600 });
      expect(result).toMatchObject({
        ok: false,
        error: { kind: 'BackendError', message: expect.stringMatching(/^nft refused .*Operation not permitted.*flags owner/) },
      });
      expect(await lab.canConnect(lab.attacker4[0])).toBe(true);
    } finally {
      owner.stdin!.end();
      await owner;
    }
  });

  it('says that nft is missing, and how to fix it, when it is not installed', async () => {
    const result = await runVerb('add', { block: block(lab.attacker4[0]) }, { PATH: '/nonexistent' });
    expect(result).toMatchObject({
      ok: false,
      error: { kind: 'BackendError', message: expect.stringMatching(/nft is not installed.*nftables package.*backend:/) },
    });
  });

  it('kills an nft that hangs once command_timeout has passed, and says which setting bounds it', async () => {
    const fakeBin = mkdtempSync(join(tmpdir(), 'palisade-hung-nft-'));
    writeFileSync(join(fakeBin, 'nft'), '#!/bin/sh\nexec sleep 60\n', { mode: 0o755 });
    const started = Date.now();
    const result = await runVerb('add', { config: { command_timeout: 1 }, block: block(lab.attacker4[0]), ttl: 600 }, { PATH: `${fakeBin}:/usr/bin:/bin` });
    expect(result).toMatchObject({ ok: false, error: { kind: 'BackendError', message: 'nft did not finish within 1 s (config command_timeout)' } });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('replaces a table built for another configuration, keeping the state file\'s blocks', async () => {
    await lab.run(lab.protectedNs, ['nft', 'add table inet palisade']);
    // An older shape: the address set as an interval set, and an input chain at another priority.
    await lab.run(lab.protectedNs, ['nft', 'add set inet palisade addr4 { type ipv4_addr; flags interval, timeout; }']);
    await lab.run(lab.protectedNs, ['nft', 'add chain inet palisade input { type filter hook input priority 0; policy accept; }']);
    const outcome = await expectOutcome('add', {
      config: { nftables: { hooks: ['input'] } },
      block: block(lab.attacker4[0]),
      ttl: 600,
      restorable: [stateEntry(lab.attacker4[1], 600)],
    });
    expect(outcome).toEqual({ result: 'added', restored: 1 });
    expect(await blocked(lab.attacker4[0])).toBe(true);
    expect(await blocked(lab.attacker4[1])).toBe(true);
    const chains = await lab.run(lab.protectedNs, ['nft', 'list', 'chains', 'inet']);
    expect(chains).toContain('priority filter - 10');
    expect(chains).not.toContain('forward');
  });

  it('ensure() builds the table once and restores into it; flush() removes it, twice without complaint', async () => {
    // fresh: the table was gone, so it holds the replay alone (reconcile then need not list it back).
    expect(await expectOutcome('ensure', { restorable: [stateEntry(lab.attacker6[1], 600)] })).toEqual({ created: true, restored: 1, fresh: true });
    expect(await blocked(lab.attacker6[1])).toBe(true);
    expect(await expectOutcome('ensure')).toEqual({ created: false, restored: 0 });
    expect(await blocked(lab.attacker6[1])).toBe(true);

    expect(await expectOutcome('flush')).toBeNull();
    expect(await expectOutcome('flush')).toBeNull();
    expect(await lab.canConnect(lab.attacker6[1])).toBe(true);
    expect(await lab.run(lab.protectedNs, ['nft', 'list', 'tables'])).toBe('');
    expect(await expectOutcome('list')).toEqual([]);
  });

  it('keeps every one of 20 blocks added by 20 processes at once, starting with no table', async () => {
    const addresses = Array.from({ length: 20 }, (_, i) => `203.0.113.${i + 1}`);
    const results = await Promise.all(addresses.map((address) => runVerb('add', { block: block(address), ttl: 600 })));
    expect(results.filter((result) => !result.ok)).toEqual([]);
    expect((await elements('addr4')).map(({ val }) => val).sort()).toEqual([...addresses].sort());
    const input = await lab.run(lab.protectedNs, ['nft', 'list', 'chain', 'inet', 'palisade', 'input']);
    expect(input.match(/@addr4/g)).toHaveLength(1);
  });
});
