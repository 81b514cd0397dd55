/** Small things every AR command needs from the alert and its options. */
import { optionFlag, type CommandOptions } from '../runtime/options.js';
import { StateStore, stateDir, type StateEntry } from '../runtime/state.js';
import type { CommandContext, Targeting } from './command.js';

/** The alert's rule, for the log and the state: why this was done. */
export function ruleOf(alert: Record<string, unknown>): StateEntry['reason'] {
  const rule = alert.rule as Record<string, unknown> | undefined;
  if (!rule || typeof rule !== 'object') return undefined;
  const id = typeof rule.id === 'string' || typeof rule.id === 'number' ? String(rule.id) : undefined;
  const description = typeof rule.description === 'string' ? rule.description.slice(0, 256) : undefined;
  return { ...(id !== undefined ? { ruleId: id } : {}), ...(description !== undefined ? { description } : {}) };
}

/**
 * Refuses an <extra_args> option this command has no use for: `--ttl 1h` on palisade-disable-account would
 * otherwise be a silent no-op, and an administrator would believe the lock expires.
 */
export function unusedOptionRefusal(ctx: CommandContext, understood: ReadonlyArray<keyof CommandOptions>): Targeting<never> | undefined {
  const unused = (Object.keys(ctx.options) as Array<keyof CommandOptions>).filter((key) => ctx.options[key] !== undefined && !understood.includes(key));
  if (unused.length === 0) return undefined;
  const named = unused.map(optionFlag).join(', ');
  return { ok: false, wazuhMessage: '', detail: `${ctx.name} does not take ${named} in <extra_args>; remove it from the command's ossec.conf block` };
}

/**
 * Runs a change holding the state lock: the commands that edit one shared thing (hosts.deny, the routing
 * table, /etc/shadow, the quarantine) never interleave their read-then-write with another invocation's.
 */
export function underStateLock<T>(ctx: CommandContext, change: () => T | Promise<T>): Promise<T> {
  return new StateStore(stateDir(ctx.installDir)).locked(ctx.config.lock_timeout, async () => change());
}
