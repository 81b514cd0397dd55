/**
 * What the ipset and iptables backends must both do, proven on a real kernel: each test file calls
 * describeXtablesBackend with the backend's name and a way to read its blocks straight from the kernel,
 * then adds the tests only it has. Every verb runs as its own node process inside the lab's protected
 * namespace (backendRunnerArgv), as execd would start it.
 */
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ActiveBlock, Block } from '../../src/backends/backend.js';
import { parseAddress } from '../../src/runtime/address.js';
import type { ConfigInput } from '../../src/runtime/config.js';
import { runBackend, type BackendRun } from '../harness/backend-run.js';
import { readLogRecords } from '../harness/install.js';
import { createLab, type Lab } from '../harness/netns.js';

export type XtablesBackendName = 'ipset' | 'iptables';

export type RunnerOutput = Omit<BackendRun, 'stdout' | 'stderr'>;

export interface RunOptions {
  config?: ConfigInput;
  block?: Block;
  ttl?: number;
  restorable?: ActiveBlock[];
  /** PATH for the backend's process (the runner itself is started by absolute path). */
  path?: string;
  env?: Record<string, string>;
  /** Where the backend writes its log records. */
  logFile?: string;
}

export function block(text: string): Block {
  const parsed = parseAddress(text, { allowNetwork: true });
  if (!parsed.ok) throw new Error(`bad test address ${text}`);
  return parsed.block;
}

/** A state-file entry for ctx.restorable(), an hour from expiry. */
export function restorable(text: string): ActiveBlock {
  return { ...block(text), expiresAt: Math.floor(Date.now() / 1000) + 3600 };
}

/** Runs one backend verb in the protected namespace and returns what the runner printed. */
export async function runVerb(lab: Lab, backend: XtablesBackendName, verb: string, options: RunOptions = {}): Promise<RunnerOutput> {
  const { path, logFile, env = {}, ...args } = options;
  const { stdout: _stdout, stderr: _stderr, ...output } = await runBackend(backend, verb, args, { netns: lab.protectedNs, logFile, env: { ...(path ? { PATH: path } : {}), ...env } });
  return output;
}

/** runVerb that must succeed: returns the outcome. */
export async function must(lab: Lab, backend: XtablesBackendName, verb: string, options: RunOptions = {}): Promise<any> {
  const output = await runVerb(lab, backend, verb, options);
  if (!output.ok) throw new Error(`${backend} ${verb} failed: ${JSON.stringify(output.error)}`);
  return output.outcome;
}

/** A connection from a blocked address times out (drop), so probes of blocked addresses wait this long. */
export const blockedProbeMs = 700;

/** The JSON records the backend logged, without Wazuh's "date name: " prefix. */
export const logRecords = readLogRecords;

/** What the backends run: the tools of both variants, ipset, and flock (with the cat it holds the lock through). */
const firewallTools = [
  'ipset',
  'flock',
  'cat',
  ...['iptables', 'ip6tables'].flatMap((tool) => ['nft', 'legacy'].flatMap((variant) => ['', '-restore', '-save'].map((suffix) => `${tool}-${variant}${suffix}`))),
];

/** A directory of links to every firewall tool but one: a PATH on which that tool is missing. */
export function pathWithout(missing: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-path-'));
  for (const tool of firewallTools.filter((name) => name !== missing)) {
    const source = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].map((where) => join(where, tool)).find((file) => existsSync(file));
    if (source) symlinkSync(source, join(dir, tool));
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface KernelView {
  /** Our blocked addresses of one family as the kernel lists them, canonical ("192.0.2.66", "2001:db8::/48"). */
  entries(lab: Lab, family: 4 | 6): Promise<string[]>;
  /** Every rule line of ours outside our own per-address entries (set rules, jumps): duplicates show here. */
  ruleLines(lab: Lab, family: 4 | 6, variant?: 'nft' | 'legacy'): Promise<string[]>;
}

/** iptables -S of every filter chain of one variant and family. */
export async function filterRules(lab: Lab, family: 4 | 6, variant: 'nft' | 'legacy' = 'nft'): Promise<string[]> {
  const tool = `${family === 4 ? 'iptables' : 'ip6tables'}-${variant}`;
  return (await lab.run(lab.protectedNs, [tool, '-w', '-S'])).split('\n').filter((line) => line.startsWith('-A '));
}

/**
 * The lab of the enclosing describe: built before its tests, destroyed after them, and flushed of the
 * backend's rules after each test (then `afterEach` checks, say, that nothing of ours is left).
 */
export function labFor(backend: XtablesBackendName, afterEachFlush?: (lab: Lab) => Promise<void>): Lab {
  // Filled in by beforeAll: the lab's functions are closures, so a copy of its fields is the lab.
  const lab = {} as Lab;
  beforeAll(async () => {
    Object.assign(lab, await createLab());
  });
  afterAll(async () => lab.destroy?.());
  afterEach(async () => {
    await must(lab, backend, 'flush');
    await afterEachFlush?.(lab);
  });
  return lab;
}

export function describeXtablesBackend(backend: XtablesBackendName, kernel: KernelView): void {
  describe(`${backend}: the behaviour every firewall backend owes (real kernel)`, () => {
    const lab = labFor(backend, async () => {
      for (const family of [4, 6] as const) {
        expect(await kernel.ruleLines(lab, family)).toEqual([]);
        expect(await kernel.entries(lab, family)).toEqual([]);
      }
    });

    for (const family of [4, 6] as const) {
      it(`blocks one IPv${family} attacker and not its neighbour, until the delete`, async () => {
        const [attacker, neighbour] = family === 4 ? lab.attacker4 : lab.attacker6;
        expect(await lab.canConnect(attacker)).toBe(true);

        expect(await must(lab, backend, 'add', { block: block(attacker), ttl: 600 })).toEqual({ result: 'added', restored: 0 });
        expect(await lab.canConnect(attacker, blockedProbeMs)).toBe(false);
        expect(await lab.canConnect(neighbour)).toBe(true);
        expect(await kernel.entries(lab, family)).toEqual([attacker]);

        expect(await must(lab, backend, 'delete', { block: block(attacker) })).toEqual({ result: 'deleted', restored: 0 });
        expect(await lab.canConnect(attacker)).toBe(true);
        expect(await kernel.entries(lab, family)).toEqual([]);
      });
    }

    it('blocks a network: every address inside it, none outside', async () => {
      // 192.0.2.66/31 holds .66 and .67, not the neighbour .77; 2001:db8:200::/48 holds the IPv6 attacker, not the spare.
      await must(lab, backend, 'add', { block: block('192.0.2.66/31'), ttl: 600 });
      await must(lab, backend, 'add', { block: block('2001:db8:200::/48'), ttl: 600 });
      expect(await lab.canConnect(lab.attacker4[0], blockedProbeMs)).toBe(false);
      expect(await lab.canConnect(lab.attacker6[0], blockedProbeMs)).toBe(false);
      expect(await lab.canConnect(lab.attacker4[1])).toBe(true);
      expect(await lab.canConnect(lab.attacker6[2])).toBe(true);
      expect(await kernel.entries(lab, 4)).toEqual(['192.0.2.66/31']);
      expect(await kernel.entries(lab, 6)).toEqual(['2001:db8:200::/48']);

      expect(await must(lab, backend, 'delete', { block: block('192.0.2.66/31') })).toMatchObject({ result: 'deleted' });
      expect(await lab.canConnect(lab.attacker4[0])).toBe(true);
    });

    it('answers present for a second add and absent for a delete of what it does not hold, changing nothing', async () => {
      const attacker = lab.attacker4[0];
      await must(lab, backend, 'add', { block: block(attacker), ttl: 600 });
      expect(await must(lab, backend, 'add', { block: block(attacker), ttl: 600 })).toEqual({ result: 'present', restored: 0 });
      expect(await must(lab, backend, 'refresh', { block: block(attacker), ttl: 600 })).toEqual({ result: 'present', restored: 0 });
      expect(await kernel.entries(lab, 4)).toEqual([attacker]);

      expect(await must(lab, backend, 'delete', { block: block(lab.attacker4[1]) })).toEqual({ result: 'absent', restored: 0 });
      expect(await must(lab, backend, 'delete', { block: block(lab.attacker6[1]) })).toEqual({ result: 'absent', restored: 0 });
      expect(await kernel.entries(lab, 4)).toEqual([attacker]);
      expect(await lab.canConnect(attacker, blockedProbeMs)).toBe(false);
    });

    it('after iptables -F, the next add puts every restorable block back, and each is dropped again', async () => {
      const held = [restorable(lab.attacker4[0]), restorable(lab.attacker6[0]), restorable('198.51.100.0/24')];
      for (const entry of held) await must(lab, backend, 'add', { block: entry, ttl: 3600 });
      const logFile = join(mkdtempSync(join(tmpdir(), 'palisade-log-')), 'ar.log');

      await lab.run(lab.protectedNs, ['iptables', '-w', '-F']);
      await lab.run(lab.protectedNs, ['ip6tables', '-w', '-F']);
      expect(await lab.canConnect(lab.attacker4[0])).toBe(true);
      expect(await lab.canConnect(lab.attacker6[0])).toBe(true);

      const outcome = await must(lab, backend, 'add', { block: block(lab.attacker4[1]), ttl: 600, restorable: held, logFile });
      expect(outcome).toEqual({ result: 'added', restored: 3 });
      for (const from of [lab.attacker4[0], lab.attacker4[1], lab.attacker6[0]]) expect(await lab.canConnect(from, blockedProbeMs)).toBe(false);
      expect(await lab.canConnect(lab.attacker6[1])).toBe(true);
      expect(logRecords(logFile)).toContainEqual(expect.objectContaining({ level: 'warn', event: 'firewall-restored', backend, restored: 3 }));

      // Healed once: the next invocation finds everything in place and restores nothing.
      expect(await must(lab, backend, 'add', { block: block(lab.attacker4[1]), ttl: 600, restorable: held })).toEqual({ result: 'present', restored: 0 });
    });

    it('after iptables -F, a delete puts every other block back, but not the one it removes', async () => {
      const held = [restorable(lab.attacker4[0]), restorable(lab.attacker4[1]), restorable(lab.attacker6[0])];
      for (const entry of held) await must(lab, backend, 'add', { block: entry, ttl: 3600 });
      await lab.run(lab.protectedNs, ['iptables', '-w', '-F']);
      await lab.run(lab.protectedNs, ['ip6tables', '-w', '-F']);

      // iptables -F took the iptables backend's rule ("absent"); ipset's set still held the element ("deleted").
      expect(await must(lab, backend, 'delete', { block: block(lab.attacker4[0]), restorable: held })).toEqual({
        result: backend === 'ipset' ? 'deleted' : 'absent',
        restored: 2,
      });
      expect(await lab.canConnect(lab.attacker4[0])).toBe(true);
      expect(await lab.canConnect(lab.attacker4[1], blockedProbeMs)).toBe(false);
      expect(await lab.canConnect(lab.attacker6[0], blockedProbeMs)).toBe(false);
    });

    it('flush removes rules from chains the config no longer names', async () => {
      const chains = ['INPUT', 'FORWARD', 'OUTPUT'];
      const config: ConfigInput = backend === 'ipset' ? { ipset: { chains } } : { iptables: { parent_chains: chains } };
      await must(lab, backend, 'add', { block: block(lab.attacker4[0]), ttl: 600, config });
      expect((await kernel.ruleLines(lab, 4)).some((line) => line.startsWith('-A OUTPUT '))).toBe(true);
      // afterEach flushes with the default chains, INPUT and FORWARD, and checks that nothing is left.
    });

    it('rejects instead of dropping when action is reject, so a client fails at once', async () => {
      const config: ConfigInput = { action: 'reject' };
      await must(lab, backend, 'add', { block: block(lab.attacker4[0]), ttl: 600, config });
      await must(lab, backend, 'add', { block: block(lab.attacker6[0]), ttl: 600, config });
      // A drop would run into the 5 s timeout; a reject is refused by the ICMP answer.
      expect(await lab.connectOutcome(lab.attacker4[0], 5000)).toBe('ECONNREFUSED');
      expect(await lab.connectOutcome(lab.attacker6[0], 5000)).toBe('ECONNREFUSED');
      expect(await lab.connectOutcome(lab.attacker4[1], 5000)).toBe('connected');
    });

    it('takes 20 concurrent invocations for 20 addresses: exactly 20 blocks, no duplicate rule', async () => {
      const addresses = Array.from({ length: 20 }, (_, index) => `198.51.100.${index + 1}`);
      const outcomes = await Promise.all(addresses.map((address) => runVerb(lab, backend, 'add', { block: block(address), ttl: 600 })));
      for (const output of outcomes) expect(output).toMatchObject({ ok: true, outcome: { result: 'added' } });
      expect((await kernel.entries(lab, 4)).sort()).toEqual([...addresses].sort());
      for (const family of [4, 6] as const) {
        const lines = await kernel.ruleLines(lab, family);
        expect(lines.length).toBeGreaterThan(0);
        expect(new Set(lines).size).toBe(lines.length);
      }
    });

  });

  describe(`${backend}: which iptables it uses (real kernel)`, () => {
    const lab = labFor(backend);
    const logDir = mkdtempSync(join(tmpdir(), 'palisade-log-'));
    afterAll(() => rmSync(logDir, { recursive: true, force: true }));

    it('uses iptables-nft on a host with no rules at all, and says so', async () => {
      const log = join(logDir, 'fresh.log');
      await must(lab, backend, 'add', { block: block(lab.attacker4[0]), ttl: 600, logFile: log });
      expect(logRecords(log)).toContainEqual(
        expect.objectContaining({ level: 'info', event: 'iptables-variant', variant: 'nft', reason: 'no iptables-legacy table exists' }),
      );
      expect(await kernel.ruleLines(lab, 4, 'nft')).not.toEqual([]);
      expect(await lab.canConnect(lab.attacker4[0], blockedProbeMs)).toBe(false);
    });

    it('uses iptables-legacy when the host rules live there, says so, and warns once both hold rules', async () => {
      // The host's own firewall, in legacy: an accept for the manager, say.
      await lab.run(lab.protectedNs, ['iptables-legacy', '-w', '-A', 'INPUT', '-s', '203.0.113.10', '-j', 'ACCEPT']);
      const legacyLog = join(logDir, 'legacy.log');
      await must(lab, backend, 'add', { block: block(lab.attacker4[0]), ttl: 600, logFile: legacyLog });

      expect(await kernel.ruleLines(lab, 4, 'legacy')).not.toEqual([]);
      expect(await kernel.ruleLines(lab, 4, 'nft')).toEqual([]);
      expect(await lab.canConnect(lab.attacker4[0], blockedProbeMs)).toBe(false);
      const records = logRecords(legacyLog);
      expect(records).toContainEqual(expect.objectContaining({ level: 'info', event: 'iptables-variant', variant: 'legacy' }));
      expect(records.filter((record) => record.event === 'iptables-variant')).toHaveLength(1);
      expect(records.some((record) => record.level === 'warn' && record.event === 'iptables-variant-conflict')).toBe(false);

      // Now something puts rules into iptables-nft too.
      await lab.run(lab.protectedNs, ['iptables-nft', '-w', '-A', 'INPUT', '-s', '203.0.113.11', '-j', 'ACCEPT']);
      const bothLog = join(logDir, 'both.log');
      await must(lab, backend, 'add', { block: block(lab.attacker4[1]), ttl: 600, logFile: bothLog });
      expect(logRecords(bothLog)).toContainEqual(expect.objectContaining({ level: 'warn', event: 'iptables-variant-conflict' }));

      // flush clears both variants; then, pinned in the config: no detection, and the pinned variant is used.
      await must(lab, backend, 'flush');
      expect(await kernel.ruleLines(lab, 4, 'legacy')).toEqual([]);
      expect(await kernel.ruleLines(lab, 4, 'nft')).toEqual([]);
      await lab.run(lab.protectedNs, ['iptables-nft', '-w', '-F']);
      const pinnedLog = join(logDir, 'pinned.log');
      await must(lab, backend, 'add', { block: block(lab.attacker4[0]), ttl: 600, config: { iptables: { variant: 'nft' } }, logFile: pinnedLog });
      expect(await kernel.ruleLines(lab, 4, 'nft')).not.toEqual([]);
      expect(logRecords(pinnedLog)).toContainEqual(
        expect.objectContaining({ event: 'iptables-variant', variant: 'nft', reason: 'iptables.variant in the config' }),
      );
    });

    it("waits for a busy xtables lock, then fails with iptables' own words and exit status 4", async () => {
      // iptables-legacy takes the lock; XTABLES_LOCKFILE points this run at a lock of the test's own.
      const lockFile = join(logDir, 'xtables.lock');
      // --no-fork: the sleep itself holds the lock, so killing it frees the lock at once.
      const holder = execa('flock', ['--no-fork', lockFile, 'sh', '-c', 'echo held; exec sleep 30'], { reject: false });
      await new Promise((resolve) => holder.stdout?.once('data', resolve));
      try {
        const output = await runVerb(lab, backend, 'add', {
          block: block(lab.attacker4[2]),
          ttl: 600,
          config: { command_timeout: 2, iptables: { variant: 'legacy' } },
          env: { XTABLES_LOCKFILE: lockFile },
        });
        expect(output).toMatchObject({
          ok: false,
          error: {
            kind: 'BackendError',
            message: expect.stringMatching(/: ip6?tables-legacy(-restore)? exited 4: .*Another app is currently holding the xtables lock/),
            details: { tool: expect.stringMatching(/^ip6?tables-legacy/), exitCode: 4, stderr: expect.stringContaining('Stopped waiting after 1s') },
          },
        });
      } finally {
        holder.kill('SIGKILL');
        await holder;
      }
      expect(await lab.canConnect(lab.attacker4[2])).toBe(true);
    });

  });
}
