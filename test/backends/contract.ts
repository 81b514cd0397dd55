/**
 * The contract every backend owes, proven on the firewall itself (kernel tables, the HTTP fixture's rule
 * store, the deny file, the routing table), never on a mock. One call per backend, as unstorage's
 * testDriver(): test/backends/contract.test.ts calls testBackendContract() for each of them.
 *
 *   add-twice      a second add of a held block answers "present", and the firewall holds it once
 *   delete-absent  a delete of a block the firewall does not hold answers "absent", and changes nothing
 *   wipe           after our tables, sets or rules are taken away from outside (as a firewall reload does),
 *                  ensure() recreates them and puts back every restorable block
 *   flush          flush leaves nothing of ours, and everything that is not ours as it was
 *
 * A backend that cannot keep a clause by design says so in its capabilities, with the reason; the suite
 * then proves what it does instead (a test named "not applicable: <reason>"), never skips it silently.
 */
import { describe, expect, it } from 'vitest';
import type { ActiveBlock, BackendName, Block } from '../../src/backends/backend.js';
import { runBackend, type BackendRun, type BackendRunArgs } from '../harness/backend-run.js';

/** Supported, or not by design, with the reason (shown in the test's name and in the report). */
export type Capability = { supported: true } | { supported: false; reason: string };
export const supported: Capability = { supported: true };
export const notApplicable = (reason: string): Capability => ({ supported: false, reason });

export interface ContractCapabilities {
  /**
   * There is a firewall that holds blocks at all. Without one (dry-run) no clause applies: the suite
   * proves instead that every verb succeeds and the host's firewall is left exactly as it was.
   */
  holdsBlocks: Capability;
  /** A second add answers "present". Without: it answers "added", and the firewall still holds the block once. */
  answersPresent: Capability;
  /**
   * ensure() finds our tables, sets or lines missing and puts back ctx.restorable(). Without: ensure()
   * restores nothing, list() shows the loss, and an add of each lost block (what `palisade reconcile` does
   * for such backends) puts it back.
   */
  ensureRestores: Capability;
  /** There is structure of our own (a table, sets, a chain) for ensure() to report as created. */
  ownStructure: Capability;
}

/** One firewall, fresh for one test. Every view leaves timers out (they change by themselves). */
export interface ContractFirewall {
  /** Runs one verb of the backend against this firewall (the runner, inside the namespace where there is one). */
  run(verb: string, args?: Omit<BackendRunArgs, 'config'>): Promise<BackendRun>;
  /** Our blocks as the firewall holds them, canonical, one entry per rule, element or line (a duplicate shows twice), sorted. */
  held(): Promise<string[]>;
  /** Everything of ours in the firewall's own words: blocks and structure (tables, sets, chains, jumps, lines). */
  ours(): Promise<string[]>;
  /** The whole firewall, ours and not, as text: compared before and after a verb that must change nothing. */
  snapshot(): Promise<string>;
  /** Puts there something that is not ours (an administrator's rule, line or route): flush must leave it. */
  seedForeign?(): Promise<void>;
  /** Takes our tables, sets, rules or lines away from outside, as a firewall reload, a reset or a reboot does. */
  wipe(): Promise<void>;
  close(): Promise<void>;
}

export interface ContractSubject {
  /** What the describe is called: "nftables", "http (cloudflare)". */
  title: string;
  backend: BackendName;
  capabilities: ContractCapabilities;
  /** Why seedForeign is absent, when it is: flush then has nothing foreign to spare. */
  noForeign?: string;
  open(): Promise<ContractFirewall>;
}

/** The blocks the suite uses: an IPv4 host, an IPv6 host, an IPv4 network; and two it never adds. */
export const contractBlocks = {
  host4: block('192.0.2.66', 4, 32),
  host6: block('2001:db8:200::66', 6, 128),
  net4: block('198.51.100.0/24', 4, 24),
  absent4: block('192.0.2.77', 4, 32),
  absent6: block('2001:db8:200::77', 6, 128),
};
const threeBlocks = [contractBlocks.host4, contractBlocks.host6, contractBlocks.net4];
const sortedAddresses = (blocks: readonly Block[]) => blocks.map((b) => b.address).sort();

function block(address: string, family: 4 | 6, prefix: number): Block {
  return { address, family, prefix };
}

/** A state-file entry for ctx.restorable(), an hour from expiry. */
export function restorableEntry(of: Block): ActiveBlock {
  return { ...of, expiresAt: Math.floor(Date.now() / 1000) + 3600 };
}

export function testBackendContract(subject: ContractSubject): void {
  const { capabilities: caps } = subject;

  /** Opens a fresh firewall, runs the body, and closes it whatever happens. */
  const withFirewall = (body: (fw: ContractFirewall, must: Must) => Promise<void>) => async () => {
    const fw = await subject.open();
    const must: Must = async (verb, args) => {
      const run = await fw.run(verb, args);
      if (!run.ok) throw new Error(`${subject.title} ${verb} failed: ${JSON.stringify(run.error)}`);
      return run.outcome;
    };
    try {
      await body(fw, must);
    } finally {
      await fw.close();
    }
  };

  describe(`backend contract: ${subject.title}`, () => {
    if (!caps.holdsBlocks.supported) {
      it(`holds no blocks, so no clause applies (not applicable: ${caps.holdsBlocks.reason}); every verb succeeds and changes nothing`, withFirewall(async (fw, must) => {
        const before = await fw.snapshot();
        expect(await must('ensure')).toEqual({ created: false, restored: 0 });
        for (const entry of threeBlocks) expect(await must('add', { block: entry, ttl: 600 })).toMatchObject({ result: 'added' });
        // Nothing was held, so nothing can be present, nor absent.
        expect(await must('add', { block: contractBlocks.host4, ttl: 600 })).toMatchObject({ result: 'added' });
        expect(await must('delete', { block: contractBlocks.absent4 })).toMatchObject({ result: 'deleted' });
        await must('flush');
        expect(await must('list')).toEqual([]);
        expect(await fw.snapshot()).toBe(before);
      }));
      return;
    }

    it(
      caps.answersPresent.supported
        ? 'add twice: the second answers "present", and the firewall holds the block once'
        : `add twice: the firewall holds the block once; "present" not applicable: ${caps.answersPresent.reason}`,
      withFirewall(async (fw, must) => {
        await fw.seedForeign?.();
        for (const entry of threeBlocks) expect(await must('add', { block: entry, ttl: 600 })).toMatchObject({ result: 'added' });
        const afterFirst = await fw.ours();
        for (const entry of threeBlocks) {
          expect(await must('add', { block: entry, ttl: 600 })).toMatchObject({ result: caps.answersPresent.supported ? 'present' : 'added' });
        }
        expect(await fw.held()).toEqual(sortedAddresses(threeBlocks));
        // The second add changed nothing of ours: no second rule, element or line, no second jump.
        expect(await fw.ours()).toEqual(afterFirst);
      }),
    );

    it('delete of an absent block: answers "absent" and changes nothing', withFirewall(async (fw, must) => {
      await fw.seedForeign?.();
      await must('add', { block: contractBlocks.host4, ttl: 600 });
      const before = await fw.snapshot();
      for (const absent of [contractBlocks.absent4, contractBlocks.absent6]) {
        expect(await must('delete', { block: absent })).toMatchObject({ result: 'absent', restored: 0 });
      }
      expect(await fw.snapshot()).toBe(before);
      expect(await fw.held()).toEqual([contractBlocks.host4.address]);
    }));

    const restorable = threeBlocks.map(restorableEntry);
    if (caps.ensureRestores.supported) {
      it('wiped from outside: ensure() recreates what is ours and restores every restorable block, once', withFirewall(async (fw, must) => {
        for (const entry of restorable) await must('add', { block: entry, ttl: 3600 });
        const whole = await fw.ours();
        await fw.wipe();
        // The wipe is real: the firewall lost every block.
        expect(await fw.held()).toEqual([]);
        const healed = (await must('ensure', { restorable })) as { created: boolean; restored: number; fresh?: boolean };
        expect({ created: healed.created, restored: healed.restored }).toEqual({ created: caps.ownStructure.supported, restored: restorable.length });
        // A backend that says whether every set was made anew (reconcile then trusts the replay) must say so here.
        if ('fresh' in healed) expect(healed.fresh).toBe(true);
        expect(await fw.held()).toEqual(sortedAddresses(restorable));
        expect(await fw.ours()).toEqual(whole);
        // Healed once: a second ensure finds everything in place.
        expect(await must('ensure', { restorable })).toEqual({ created: false, restored: 0 });
        expect(await fw.held()).toEqual(sortedAddresses(restorable));
      }));
    } else {
      it(`wiped from outside: ensure() restores nothing (not applicable: ${caps.ensureRestores.reason}); list() shows the loss and an add per block puts it back`, withFirewall(async (fw, must) => {
        for (const entry of restorable) await must('add', { block: entry, ttl: 3600 });
        await fw.wipe();
        expect(await fw.held()).toEqual([]);
        expect(await must('ensure', { restorable })).toEqual({ created: false, restored: 0 });
        expect(await fw.held()).toEqual([]);
        expect(await must('list', { restorable })).toEqual([]);
        for (const entry of restorable) expect(await must('add', { block: entry, ttl: 3600, restorable })).toMatchObject({ result: 'added' });
        expect(await fw.held()).toEqual(sortedAddresses(restorable));
      }));
    }

    it(
      subject.noForeign === undefined
        ? 'flush: nothing of ours is left, and what is not ours is as it was'
        : `flush: nothing of ours is left (nothing foreign to spare: ${subject.noForeign})`,
      withFirewall(async (fw, must) => {
        await fw.seedForeign?.();
        const before = await fw.snapshot();
        for (const entry of threeBlocks) await must('add', { block: entry, ttl: 600 });
        expect(await fw.held()).toEqual(sortedAddresses(threeBlocks));
        await must('flush');
        expect(await fw.held()).toEqual([]);
        expect(await fw.ours()).toEqual([]);
        expect(await fw.snapshot()).toBe(before);
      }),
    );
  });
}

type Must = (verb: string, args?: Omit<BackendRunArgs, 'config'>) => Promise<any>;
