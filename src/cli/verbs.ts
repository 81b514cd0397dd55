/**
 * Every `palisade` verb: its arguments and options (in VERB-options.ts beside the verb, or here for a verb that
 * takes none) and where its code is. The code of a verb is imported only when that verb runs; this table is
 * all `palisade --help` needs.
 */
import * as z from 'zod/mini';
import type { VerbSpec } from './args.js';
import { blockVerb } from './block-options.js';
import type { CliContext } from './context.js';
import { flushVerb } from './flush-options.js';
import { listVerb } from './list-options.js';
import { reconcileVerb } from './reconcile-options.js';
import { simulateVerb } from './simulate-options.js';
import { unblockVerb } from './unblock-options.js';

export interface VerbModule<T> {
  run(ctx: CliContext, options: T): Promise<number>;
}

export interface Verb<T = unknown> extends VerbSpec {
  load(): Promise<VerbModule<T>>;
}

export const statusSchema = z.strictObject({});
export const doctorSchema = z.strictObject({});

/** Ties a verb's code to its schema: run() takes what that schema gives. */
function verb<S extends z.ZodMiniType>(spec: VerbSpec & { schema: S; load(): Promise<VerbModule<z.infer<S>>> }): Verb {
  return spec;
}

export const verbs: readonly Verb[] = [
  verb({
    name: 'status',
    summary: 'backend and why, firewall health, active blocks, drop counters, state age',
    details: ['The backend in use and why (auto-detection), the iptables variant, our nftables table, active blocks per', 'backend and family in the state and in the firewall, drop counters, and the age of the state. Exit 1 on a problem.'],
    flags: {},
    positionals: [],
    schema: statusSchema,
    load: () => import('./status.js'),
  }),
  verb({ ...listVerb, load: () => import('./list.js') }),
  verb({ ...blockVerb, load: () => import('./block.js') }),
  verb({ ...unblockVerb, load: () => import('./unblock.js') }),
  verb({ ...flushVerb, load: () => import('./flush.js') }),
  verb({ ...reconcileVerb, load: () => import('./reconcile.js') }),
  verb({
    name: 'doctor',
    summary: 'check every reason an active response silently does nothing, with the fix',
    details: [
      'Binary owner and mode, links, registration in ossec.conf and ar.conf, the log file, backend tools, iptables',
      'nft vs legacy, firewalld and Docker, the config, the clock, the state. Exit status 1 when something fails.',
    ],
    flags: {},
    positionals: [],
    schema: doctorSchema,
    load: () => import('./doctor.js'),
  }),
  verb({ ...simulateVerb, load: () => import('./simulate.js') }),
];

export function findVerb(name: string): Verb | undefined {
  return verbs.find((candidate) => candidate.name === name);
}
