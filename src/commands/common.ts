/** Small things every AR command needs from the alert and its options. */
import { fieldValue } from '../runtime/message.js';
import { optionFlag, type CommandOptions } from '../runtime/options.js';
import { StateStore, stateDir, type StateEntry } from '../runtime/state.js';
import type { CommandContext, Targeting } from './command.js';

/** The alert's rule (rule.id and description in 4.x, wazuh.rule.id and title in 5.x), for the log and the state: why this was done. */
export function ruleOf(ctx: Pick<CommandContext, 'alert' | 'fields'>): StateEntry['reason'] {
  const ruleId = fieldValue(ctx.alert, ctx.fields.rule.id);
  const ruleDescription = fieldValue(ctx.alert, ctx.fields.rule.description);
  const id = typeof ruleId === 'string' || typeof ruleId === 'number' ? String(ruleId) : undefined;
  const description = typeof ruleDescription === 'string' ? ruleDescription.slice(0, 256) : undefined;
  if (id === undefined && description === undefined) return undefined;
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
