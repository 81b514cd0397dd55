/**
 * What the ipset and iptables backends share: which iptables holds the host's rules (nft or legacy),
 * running iptables/ip6tables of that variant with -w, checking our rules with -C, changing them in one
 * iptables-restore call, and the lock under which a missing chain, jump or rule is put back.
 *
 * Every call waits for the xtables lock (-w; without it a busy lock makes iptables exit 4), every rule is
 * checked (-C) before it is inserted, so a repeated add never makes a second copy, and every refusal becomes
 * a BackendError with the tool's own words.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { runTool, ToolError, type ToolResult } from '../runtime/exec.js';
import { acquireLock, LockError } from '../runtime/lock.js';
import { BackendError, type ActiveBlock, type BackendContext, type BackendName } from './backend.js';
import { nowSeconds } from '../runtime/duration.js';

export type XtablesVariant = 'nft' | 'legacy';
export type Family = 4 | 6;
export const families: readonly Family[] = [4, 6];

/** A rule without its chain, as -C, -I and -D take it: ['-s', '192.0.2.7', '-j', 'DROP']. */
export type RuleSpec = readonly string[];
export interface ChainRule {
  chain: string;
  rule: RuleSpec;
}

/** One line of iptables-restore input: "-C INPUT -j PALISADE". Our tokens never hold spaces or quotes. */
export function command(verb: '-A' | '-C' | '-D', { chain, rule }: ChainRule): string {
  return `${verb} ${chain} ${rule.join(' ')}`;
}

/** The kernel's timer limit for an ipset element and the cap on what we ask of it (about 24.8 days). */
export const ipsetMaxTimeout = 2_147_483;

/** -j DROP or -j REJECT; REJECT answers with port-unreachable (icmp6 for ip6tables), so a client fails fast. */
export function targetOf(action: 'drop' | 'reject'): RuleSpec {
  return ['-j', action === 'reject' ? 'REJECT' : 'DROP'];
}
export const anyTarget: readonly RuleSpec[] = [targetOf('drop'), targetOf('reject')];

/** Runs a firewall tool within command_timeout; a missing tool or a timeout is a BackendError. */
export async function runFirewallTool(
  ctx: BackendContext,
  argv: readonly [string, ...string[]],
  input?: string,
): Promise<ToolResult> {
  try {
    return await runTool(argv, { timeoutSeconds: ctx.config.command_timeout, ...(input === undefined ? {} : { input }) });
  } catch (error) {
    if (error instanceof ToolError) throw new BackendError(error.message, { tool: error.tool });
    throw error;
  }
}

/** iptables-nft repeats this on every call while legacy tables exist; it is not the tool's answer. */
const legacyWarning = /^# Warning: iptables-legacy tables present.*$/gm;

export function toolMessage(stderr: string): string {
  return stderr.replace(legacyWarning, '').trim();
}

/**
 * The tool's message on one line. All of it, not the first line: iptables puts "Can't lock ..." first and
 * the reason, "Another app is currently holding the xtables lock", second. The usage hint goes.
 */
function oneLine(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.trim()).filter((line) => line.length > 0 && !line.startsWith('Try `'));
  const text = lines.join('; ');
  return text.length > 400 ? `${text.slice(0, 400)}...` : text;
}

/** The BackendError for a refused command: what we were doing, the tool, its exit status and its message. */
export function refused(what: string, tool: string, result: ToolResult, hint?: string): BackendError {
  const stderr = toolMessage(result.stderr);
  const message = `${what}: ${tool} exited ${result.exitCode}: ${oneLine(stderr) || '(no message)'}${hint ? ` (${hint})` : ''}`;
  return new BackendError(message, { tool, exitCode: result.exitCode, stderr });
}

/** -C's "not there": the same words in both variants and both families. */
function isBadRule(stderr: string): boolean {
  return stderr.includes('Bad rule (does a matching rule exist in that chain?)');
}

/**
 * iptables or ip6tables of one variant. Every call carries -w with a second less than command_timeout, so
 * a busy xtables lock makes iptables give up and say so itself (exit 4, "Another app is currently holding
 * the xtables lock") before our timeout would kill it. (iptables-nft takes no such lock: nf_tables commits
 * are transactions.)
 */
export class Xtables {
  constructor(
    private readonly ctx: BackendContext,
    readonly variant: XtablesVariant,
  ) {}

  tool(family: Family, suffix: '' | '-restore' = ''): string {
    return `${family === 4 ? 'iptables' : 'ip6tables'}-${this.variant}${suffix}`;
  }

  private wait(): string[] {
    return ['-w', String(Math.max(1, this.ctx.config.command_timeout - 1))];
  }

  run(family: Family, args: readonly string[]): Promise<ToolResult> {
    return runFirewallTool(this.ctx, [this.tool(family), ...this.wait(), ...args]);
  }

  /** -C: true when the rule is in the chain, false when not; anything else is an error. */
  async has(family: Family, chain: string, rule: RuleSpec): Promise<boolean> {
    const result = await this.run(family, ['-C', chain, ...rule]);
    if (result.exitCode === 0) return true;
    if (result.exitCode === 1 && isBadRule(result.stderr)) return false;
    throw refused(`cannot check "${chain} ${rule.join(' ')}"`, this.tool(family), result);
  }

  /**
   * Commands ("-C INPUT -j X", "-D X -s ...") run as one iptables-restore transaction: one process and
   * one read of the ruleset for all of them, which is what keeps an invocation cheap. Either every command
   * succeeds and the batch is committed, or nothing is. Returns undefined on success, else the index of
   * the first command that failed as the tool reports it ("line N failed"), or 0 when it does not say
   * (a missing chain or set): the caller then heals under the lock, where each rule is checked on its own
   * and a real error surfaces.
   */
  async firstFailing(family: Family, commands: readonly string[]): Promise<number | undefined> {
    const result = await this.restoreRaw(family, commands);
    if (result.exitCode === 0) return undefined;
    if (result.exitCode !== 1 && result.exitCode !== 2) throw refused('cannot check our rules', this.tool(family, '-restore'), result);
    // Line 1 is "*filter"; legacy says only "line N failed", nft adds -C's "Bad rule".
    const line = /line (\d+) failed(?:$|: Bad rule)/m.exec(toolMessage(result.stderr));
    return line ? Math.max(0, Number(line[1]) - 2) : 0;
  }

  /** -D once: true when the rule was there. */
  async remove(family: Family, chain: string, rule: RuleSpec): Promise<boolean> {
    const result = await this.run(family, ['-D', chain, ...rule]);
    if (result.exitCode === 0) return true;
    if (result.exitCode === 1 && isBadRule(result.stderr)) return false;
    throw refused(`cannot delete "${chain} ${rule.join(' ')}"`, this.tool(family), result);
  }

  /** The "-A" lines of every chain of the filter table, in the form -D takes back once "-A" becomes "-D". */
  async listRules(family: Family): Promise<string[]> {
    const result = await this.run(family, ['-S']);
    if (result.exitCode !== 0) throw refused('cannot list the filter table', this.tool(family), result);
    return result.stdout.split('\n').filter((line) => line.startsWith('-A '));
  }

  /**
   * The "-A" lines of the filter table with the kernel's counters, which `-S -v` prints inline as
   * "-c PACKETS BYTES"; the line comes back without them, as -S alone prints it.
   */
  async countedRules(family: Family): Promise<Array<{ line: string; packets: number; bytes: number }>> {
    const result = await this.run(family, ['-S', '-v']);
    if (result.exitCode !== 0) throw refused('cannot list the filter table with its counters', this.tool(family), result);
    return result.stdout.split('\n').flatMap((line) => {
      const counted = / -c (\d+) (\d+)/.exec(line);
      if (!line.startsWith('-A ') || !counted) return [];
      return [{ line: line.replace(counted[0], ''), packets: Number(counted[1]), bytes: Number(counted[2]) }];
    });
  }

  /** The chain as -S prints it (one "-N"/"-A" line each), or undefined when there is no such chain. */
  async listChain(family: Family, chain: string): Promise<string[] | undefined> {
    const result = await this.run(family, ['-S', chain]);
    if (result.exitCode === 0) return result.stdout.split('\n').filter((line) => line.length > 0);
    // legacy says "No chain/target/match by that name."; nft calls a missing chain "incompatible".
    const message = toolMessage(result.stderr);
    if (result.exitCode === 1 && (/No chain\/target\/match/.test(message) || /chain `[^']*' in table `filter' is incompatible/.test(message))) {
      return undefined;
    }
    throw refused(`cannot list chain ${chain}`, this.tool(family), result);
  }

  /** Applies lines ("-I INPUT 1 -j X", ":X - [0:0]", ...) to the filter table in one atomic iptables-restore. */
  async restore(family: Family, lines: readonly string[], what: string): Promise<void> {
    if (lines.length === 0) return;
    const result = await this.restoreRaw(family, lines);
    if (result.exitCode === 0) return;
    // legacy names only the line ("line 4 failed"): quote it, since the input is ours and not on screen.
    const failed = /line (\d+) failed/.exec(result.stderr);
    const line = failed ? lines[Number(failed[1]) - 2] : undefined;
    throw refused(what, this.tool(family, '-restore'), result, line === undefined ? undefined : `at "${line}"`);
  }

  private restoreRaw(family: Family, lines: readonly string[]): Promise<ToolResult> {
    // --noflush: change only what the lines say; the host's own rules stay as they are.
    return runFirewallTool(
      this.ctx,
      [this.tool(family, '-restore'), '--noflush', ...this.wait()],
      ['*filter', ...lines, 'COMMIT', ''].join('\n'),
    );
  }
}

export interface VariantChoice {
  variant: XtablesVariant;
  reason: string;
  /** Both variants hold rules: a packet passes both, and the host's firewall lives in two places. */
  conflict: boolean;
}

/** Tables iptables-legacy has instantiated in this network namespace (what iptables-nft itself reads for
 *  its "legacy tables present" warning): a kernel file, so reading it costs no process. */
function legacyTableNames(): string[] {
  const names: string[] = [];
  for (const file of ['/proc/net/ip_tables_names', '/proc/net/ip6_tables_names']) {
    try {
      names.push(...readFileSync(file, 'utf8').split('\n').filter(Boolean));
    } catch {
      // the module is not loaded: no legacy table exists
    }
  }
  return names;
}

/** True when `<tool>-save` of any family prints at least one rule. A missing tool holds nothing. */
async function variantHoldsRules(ctx: BackendContext, variant: XtablesVariant): Promise<boolean> {
  const outputs = await Promise.all(
    (['iptables', 'ip6tables'] as const).map(async (tool) => {
      try {
        return (await runTool([`${tool}-${variant}-save`], { timeoutSeconds: ctx.config.command_timeout })).stdout;
      } catch (error) {
        if (error instanceof ToolError && error.reason === 'missing') return '';
        throw error;
      }
    }),
  );
  return outputs.some((output) => output.split('\n').some((line) => line.startsWith('-A ')));
}

/** The variant the distribution's own `iptables` command runs (its alternatives link), for a tie. */
function systemDefaultVariant(): XtablesVariant {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    try {
      return realpathSync(join(dir, 'iptables')).includes('legacy') ? 'legacy' : 'nft';
    } catch {
      // not in this directory
    }
  }
  return 'nft';
}

/**
 * auto: the variant that holds the host's rules; nft when neither does. The common cases cost no process:
 * no legacy table in this namespace means nft. Only a host with legacy tables pays for reading the nft
 * side (and, when both seem to hold rules, for confirming the legacy side has rules and not just tables).
 */
export async function chooseVariant(ctx: BackendContext): Promise<VariantChoice> {
  const configured = ctx.config.iptables.variant;
  if (configured !== 'auto') return { variant: configured, reason: 'iptables.variant in the config', conflict: false };
  const legacyTables = legacyTableNames();
  if (legacyTables.length === 0) return { variant: 'nft', reason: 'no iptables-legacy table exists', conflict: false };
  if (!(await variantHoldsRules(ctx, 'nft'))) {
    return { variant: 'legacy', reason: `iptables-legacy holds the rules (tables ${[...new Set(legacyTables)].join(', ')})`, conflict: false };
  }
  if (!(await variantHoldsRules(ctx, 'legacy'))) {
    return { variant: 'nft', reason: 'iptables-nft holds the rules; the iptables-legacy tables are empty', conflict: false };
  }
  const variant = systemDefaultVariant();
  return { variant, reason: `both hold rules; ${variant} is what this host's iptables command runs`, conflict: true };
}

/**
 * For flush: every variant that may hold rules of ours, since the chosen one can change (the host's rules
 * move, or iptables.variant is set). nft always (listing it creates nothing); legacy only where its tables
 * exist, since listing it would create them and make every later detection pay for a check.
 */
export function variantsInUse(ctx: BackendContext): Xtables[] {
  const variants: XtablesVariant[] = legacyTableNames().length > 0 ? ['nft', 'legacy'] : ['nft'];
  return variants.map((variant) => new Xtables(ctx, variant));
}

const opened = new Map<string, Promise<Xtables>>();

/** The variant for this invocation, chosen once and logged once (an info record, plus a warning on a conflict). */
export function openXtables(ctx: BackendContext): Promise<Xtables> {
  const key = ctx.config.iptables.variant;
  let pending = opened.get(key);
  if (!pending) {
    pending = (async () => {
      const started = performance.now();
      const choice = await chooseVariant(ctx);
      const tookMs = Math.round((performance.now() - started) * 10) / 10;
      ctx.log.info({ event: 'iptables-variant', variant: choice.variant, reason: choice.reason, took_ms: tookMs });
      if (choice.conflict) {
        ctx.log.warn(
          { event: 'iptables-variant-conflict', variant: choice.variant },
          `both iptables-nft and iptables-legacy hold rules: packets pass both, and Palisade uses ${choice.variant}; ` +
            'move the host firewall to one of them, or set iptables.variant in the config',
        );
      }
      return new Xtables(ctx, choice.variant);
    })();
    pending.catch(() => opened.delete(key));
    opened.set(key, pending);
  }
  return pending;
}

/**
 * Healing takes this lock, then looks again: two invocations that both found a jump missing must not both
 * insert it. The state lock already serialises Palisade's own commands; this one also covers backends run
 * on their own (reconcile, the test runner). An fcntl lock (runtime/lock.ts): it cannot go stale.
 */
const healLockFile = '/run/palisade-xtables.lock';

export async function underHealLock<T>(ctx: BackendContext, heal: () => Promise<T>): Promise<T> {
  let lock;
  try {
    lock = await acquireLock(healLockFile, ctx.config.lock_timeout);
  } catch (error) {
    if (error instanceof LockError) throw new BackendError(error.message, { tool: 'palisade' });
    throw error;
  }
  try {
    return await heal();
  } finally {
    await lock.release();
  }
}

/** Entries of one family still worth putting back, with the seconds each has left. */
export function restorableOf(ctx: BackendContext, family: Family, now = nowSeconds()): Array<ActiveBlock & { remaining: number }> {
  return ctx
    .restorable()
    .filter((entry) => entry.family === family && entry.expiresAt > now)
    .map((entry) => ({ ...entry, remaining: entry.expiresAt - now }));
}

/**
 * What was recreated. A warning when blocks had been lost (a firewall reload, `iptables -F`, a reboot):
 * an operator must see that; an info record when nothing had been (the first use, say).
 */
export function logRecreated(ctx: BackendContext, backend: BackendName, missing: readonly string[], restored: number): void {
  if (restored > 0) {
    ctx.log.warn(
      { event: 'firewall-restored', backend, missing, restored },
      `our ${backend} rules were missing (a firewall reload, a flush or a reboot): recreated them and restored ${restored} block(s)`,
    );
  } else {
    ctx.log.info({ event: 'firewall-created', backend, missing });
  }
}
