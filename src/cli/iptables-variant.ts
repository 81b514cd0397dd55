/**
 * Which iptables Palisade uses on this host and why (the backends' own choice, xtables.chooseVariant), for
 * status and doctor. Rules in both variants are a classic reason a rule "does nothing": each iptables
 * shows only its own half.
 */
import { chooseVariant } from '../backends/xtables.js';
import type { Config } from '../runtime/config.js';
import { createLogger } from '../runtime/log.js';

export interface VariantReport {
  variant: 'nft' | 'legacy' | 'unknown';
  reason: string;
  /** Both variants hold rules. */
  conflict: boolean;
}

/** A backend context that reads only: no state to restore, and a log that goes nowhere. */
export function readOnlyContext(config: Config) {
  return { config, log: createLogger({ path: undefined, argv0: 'palisade' }), restorable: () => [] };
}

export async function describeVariant(config: Config): Promise<VariantReport> {
  try {
    return await chooseVariant(readOnlyContext(config));
  } catch (error) {
    return { variant: 'unknown', reason: (error as Error).message, conflict: false };
  }
}
