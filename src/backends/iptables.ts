/**
 * iptables: one rule per blocked address, in a chain of our own (PALISADE) that INPUT and FORWARD jump to,
 * and DOCKER-USER too where Docker made it (published container ports bypass INPUT). For hosts without
 * ipset; per-address rules cost more with every address (per packet and per change), so prefer ipset or
 * nftables above a few thousand blocks.
 *
 * There is no kernel timer here: the state file carries the expiry, and execd's delete removes the rule.
 * refresh only makes sure the rule is there.
 */
import type { ActiveBlock, Backend, BackendContext, Block, DropCounter, EnsureOutcome, FirewallBlock, Inspection } from './backend.js';
import { parseAddress } from '../runtime/address.js';
import {
  anyTarget,
  command,
  families,
  logRecreated,
  openXtables,
  restorableOf,
  targetOf,
  underHealLock,
  variantsInUse,
  type Family,
  type RuleSpec,
  type Xtables,
} from './xtables.js';

const dockerChain = 'DOCKER-USER';

/** Our chain as -S prints it: "-A PALISADE -s 192.0.2.66/32 -j DROP" → the block's canonical address. */
function sourceOf(line: string, chain: string): Block | undefined {
  const match = new RegExp(`^-A ${chain} -s (\\S+) -j `).exec(line);
  const parsed = match ? parseAddress(match[1], { allowNetwork: true }) : undefined;
  return parsed?.ok ? parsed.block : undefined;
}

export function createIptablesBackend(ctx: BackendContext): Backend {
  const { chain, parent_chains: parents, docker_user: dockerUser } = ctx.config.iptables;
  const jump: RuleSpec = ['-j', chain];
  const jumpLine = (parent: string) => `-A ${parent} -j ${chain}`;
  const anyJump = new RegExp(`^-A \\S+ -j ${chain}$`);
  const blockRule = (block: Block, target = targetOf(ctx.config.action)): RuleSpec => ['-s', block.address, ...target];

  let opened: Promise<Xtables> | undefined;
  const xtables = () => (opened ??= openXtables(ctx));

  /** Is the DOCKER-USER jump in place? -S, not -C: -C cannot tell a missing chain from a missing rule. */
  const dockerJumpMissing = async (xt: Xtables, family: Family): Promise<boolean> => {
    if (!dockerUser) return false;
    const lines = await xt.listChain(family, dockerChain);
    return lines !== undefined && !lines.includes(jumpLine(dockerChain));
  };

  /**
   * Everything one family lacks: our chain, jumps to it, and the restorable blocks missing from it, but
   * never `exclude`: the block a delete is removing stays removed.
   */
  const healFamily = async (xt: Xtables, family: Family, exclude?: Block) => {
    const current = await xt.listChain(family, chain);
    const missingJumps: string[] = [];
    for (const parent of parents) if (current === undefined || !(await xt.has(family, parent, jump))) missingJumps.push(parent);
    if (await dockerJumpMissing(xt, family)) missingJumps.push(dockerChain);
    if (current !== undefined && missingJumps.length === 0) return { missing: [], restored: 0 };

    // Append only what the chain lacks: an `iptables -F` empties it, a deleted jump leaves it whole.
    const held = new Set((current ?? []).map((line) => sourceOf(line, chain)?.address));
    const entries = restorableOf(ctx, family).filter((entry) => !held.has(entry.address) && entry.address !== exclude?.address);
    await xt.restore(
      family,
      [
        // --noflush keeps the host's rules; this line creates our chain (it would empty an existing one).
        ...(current === undefined ? [`:${chain} - [0:0]`] : []),
        ...entries.map((entry) => `-A ${chain} ${blockRule(entry).join(' ')}`),
        ...missingJumps.map((parent) => `-I ${parent} 1 ${jump.join(' ')}`),
      ],
      `cannot restore chain ${chain} and the jumps to it`,
    );
    const tool = xt.tool(family);
    return {
      missing: [...(current === undefined ? [`${tool} chain ${chain}`] : []), ...missingJumps.map((parent) => `${tool} jump ${parent} → ${chain}`)],
      restored: entries.length,
    };
  };

  /**
   * Every jump checked in one -C batch per family, and DOCKER-USER listed, all at once. The verb's own
   * command (-C of an add, -D of a delete) rides last in its family's batch: iptables-nft reads our whole
   * chain for anything that names it, so sharing that one read keeps an invocation at one pass over the
   * chain however many blocks it holds. The batch is one transaction: a failure before the verb's line
   * commits nothing.
   */
  const check = async (xt: Xtables, own?: { family: Family; line: string }) => {
    const checked = await Promise.all(
      families.map(async (family) => {
        const lines = parents.map((parent) => command('-C', { chain: parent, rule: jump }));
        const carries = own?.family === family;
        if (carries) lines.push(own.line);
        const [failedAt, dockerMissing] = await Promise.all([xt.firstFailing(family, lines), dockerJumpMissing(xt, family)]);
        const jumpsPresent = failedAt === undefined || (carries && failedAt === parents.length);
        return { healthy: jumpsPresent && !dockerMissing, ownSucceeded: carries && jumpsPresent ? failedAt === undefined : undefined };
      }),
    );
    return {
      intact: checked.every((family) => family.healthy),
      ownSucceeded: checked.find((family) => family.ownSucceeded !== undefined)?.ownSucceeded,
    };
  };

  /**
   * ensure(), carrying the verb's own command when given. ownSucceeded says whether it succeeded, or is
   * undefined when the batch stopped before it (the caller then runs it on its own, after the healing).
   */
  const ensureWith = async (
    own?: { family: Family; line: string; exclude?: Block },
  ): Promise<EnsureOutcome & { ownSucceeded?: boolean | undefined }> => {
    const xt = await xtables();
    const { intact, ownSucceeded } = await check(xt, own);
    if (intact) return { created: false, restored: 0, ownSucceeded };
    return underHealLock(ctx, async () => {
      // Look again under the lock: whoever held it before us may have healed it already.
      if ((await check(xt)).intact) return { created: false, restored: 0, ownSucceeded };
      const outcomes = [];
      for (const family of families) outcomes.push(await healFamily(xt, family, own?.exclude));
      const missing = outcomes.flatMap((outcome) => outcome.missing);
      const restored = outcomes.reduce((sum, outcome) => sum + outcome.restored, 0);
      logRecreated(ctx, 'iptables', missing, restored);
      return { created: true, restored, ownSucceeded };
    });
  };

  const add = async (block: Block, _ttlSeconds: number) => {
    const entry = { chain, rule: blockRule(block) };
    const { created, restored, ownSucceeded } = await ensureWith({ family: block.family, line: command('-C', entry) });
    const xt = await xtables();
    // -C before -A: a second add of the same block never makes a second rule. Healing may have restored
    // this very block, so after it the first -C's answer is stale.
    const present = created || ownSucceeded === undefined ? await xt.has(block.family, chain, entry.rule) : ownSucceeded;
    if (present) return { result: 'present' as const, restored };
    await xt.restore(block.family, [command('-A', entry)], `cannot block ${block.address}`);
    return { result: 'added' as const, restored };
  };

  /** The sum over our chain's per-address rules, per family: "PALISADE IPv4". */
  const dropCounters = async (): Promise<DropCounter[]> => {
    const xt = await xtables();
    return Promise.all(
      families.map(async (family) => {
        const rules = (await xt.countedRules(family)).filter(({ line }) => line.startsWith(`-A ${chain} `));
        return {
          name: `${chain} IPv${family}`,
          packets: rules.reduce((sum, rule) => sum + rule.packets, 0),
          bytes: rules.reduce((sum, rule) => sum + rule.bytes, 0),
        };
      }),
    );
  };

  return {
    name: 'iptables',
    ensure: async () => {
      const { created, restored } = await ensureWith();
      return { created, restored };
    },
    add,
    refresh: add,
    async delete(block: ActiveBlock | Block) {
      const configured = targetOf(ctx.config.action);
      const line = command('-D', { chain, rule: blockRule(block, configured) });
      const { restored, ownSucceeded } = await ensureWith({ family: block.family, line, exclude: block });
      const xt = await xtables();
      // One -D is enough: adds check with -C first, under the state lock, so no block has two rules.
      let removed = ownSucceeded ?? (await xt.remove(block.family, chain, blockRule(block, configured)));
      // A block made before action changed carries the other target.
      for (const target of anyTarget.filter((other) => other[1] !== configured[1])) {
        if (!removed) removed = await xt.remove(block.family, chain, blockRule(block, target));
      }
      return { result: removed ? 'deleted' : 'absent', restored };
    },
    async list(): Promise<FirewallBlock[]> {
      const xt = await xtables();
      const listed = await Promise.all(families.map((family) => xt.listChain(family, chain)));
      return listed.flatMap((lines) => (lines ?? []).map((line) => sourceOf(line, chain)).filter((block) => block !== undefined));
    },
    async inspect(): Promise<Inspection> {
      const { probeTools, readCounters, ruleOrder, xtablesAlongside } = await import('./health.js');
      const tools = await probeTools(ctx, 'iptables', [['iptables', '-w', '5', '-S', 'INPUT'], ['ip6tables', '-w', '5', '-S', 'INPUT']]);
      const order = await ruleOrder(ctx, parents, (line) => line.endsWith(` -j ${chain}`));
      return { findings: [...tools, ...order], alongside: xtablesAlongside(ctx), ...(await readCounters(dropCounters)) };
    },
    async flush() {
      // Jumps from every chain, not only those configured now: they may have changed since.
      for (const xt of variantsInUse(ctx)) {
        for (const family of families) {
          const jumps = (await xt.listRules(family)).filter((line) => anyJump.test(line));
          const lines = jumps.map((line) => `-D${line.slice(2)}`);
          if ((await xt.listChain(family, chain)) !== undefined) lines.push(`-F ${chain}`, `-X ${chain}`);
          await xt.restore(family, lines, `cannot remove chain ${chain} and the jumps to it`);
        }
      }
    },
  };
}
