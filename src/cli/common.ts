/** What several verbs share: who runs them, a state entry as a block, and the --backend and --from options. */
import * as z from 'zod/mini';
import { backendNames } from '../runtime/backend-names.js';
import type { Block } from '../runtime/block.js';
import type { StateEntry } from '../runtime/state.js';
import type { FlagSpec } from './args.js';

/** Who typed the command, for the log: the sudo user behind root when there is one. */
export function operator(): string | undefined {
  return process.env.SUDO_USER || process.env.USER || process.env.LOGNAME || undefined;
}

export const blockOf = (entry: StateEntry): Block => ({ address: entry.address, family: entry.family, prefix: entry.prefix });

export const backendOption = z.optional(z.enum(backendNames));
export const backendFlag = (help: string): Record<'--backend', FlagSpec> => ({
  '--backend': { key: 'backend', placeholder: 'NAME', help: `${help} (${backendNames.join(', ')})` },
});

/** FILE or - (stdin): a threat list, one address or network per line (runtime/threat-list.ts). */
export const fromOption = z.optional(z.string().check(z.minLength(1), z.maxLength(4096)));
