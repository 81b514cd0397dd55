/** What several verbs share: who runs them, and the --backend and --from options. */
import * as z from 'zod/mini';
import { backendNames } from '../runtime/backend-names.js';
import type { FlagSpec } from './args.js';

/** Who typed the command, for the log: the sudo user behind root when there is one. */
export function operator(): string | undefined {
  return process.env.SUDO_USER || process.env.USER || process.env.LOGNAME || undefined;
}

export const backendOption = z.optional(z.enum(backendNames));
export const backendFlag = (help: string): Record<'--backend', FlagSpec> => ({
  '--backend': { key: 'backend', placeholder: 'NAME', help: `${help} (${backendNames.join(', ')})` },
});

/** FILE or - (stdin): a threat list, one address or network per line (runtime/threat-list.ts). */
export const fromOption = z.optional(z.string().check(z.minLength(1), z.maxLength(4096)));
