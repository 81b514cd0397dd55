/** `palisade unblock`: its arguments and options, which --help and the parser read without loading the verb's code. */
import * as z from 'zod/mini';
import { networkSchema } from '../runtime/config.js';
import type { VerbSpec } from './args.js';
import { backendFlag, backendOption, fromOption } from './common.js';

export const unblockSchema = z.strictObject({ address: z.optional(networkSchema()), from: fromOption, backend: backendOption });
export type UnblockOptions = z.infer<typeof unblockSchema>;

export const unblockVerb = {
  name: 'unblock',
  summary: 'lift a block, wherever Palisade made it (by hand or from an alert)',
  details: [
    "If execd still has this block in its timeout list, its later delete finds nothing to do and says so.",
    '--from lifts every address of a list as palisade unblock ADDRESS does, every hold on it (the operator\'s and',
    'every alert\'s), one transaction per firewall.',
  ],
  flags: {
    ...backendFlag('when the state has no entry: the firewall to remove it from (with --from: only this firewall)'),
    '--from': { key: 'from', placeholder: 'FILE', help: 'the reverse of block --from: a list, one address or network a line (- for stdin)' },
  },
  positionals: [{ key: 'address', placeholder: 'ADDRESS', help: 'the blocked address or network, as palisade list shows it', optional: true }],
  schema: unblockSchema,
} satisfies VerbSpec;
