/** `palisade flush`: its arguments and options, which --help and the parser read without loading the verb's code. */
import * as z from 'zod/mini';
import type { VerbSpec } from './args.js';
import { backendFlag, backendOption } from './common.js';

export const flushSchema = z.strictObject({ yes: z.optional(z.boolean()), backend: backendOption });
export type FlushOptions = z.infer<typeof flushSchema>;

export const flushVerb = {
  name: 'flush',
  summary: "remove every firewall block Palisade made, its tables, chains and sets, and the state's entries",
  details: ['Asks for confirmation on a terminal; anywhere else it needs --yes.'],
  flags: { '--yes': { key: 'yes', short: '-y', help: 'do not ask' }, ...backendFlag('only this backend') },
  positionals: [],
  schema: flushSchema,
} satisfies VerbSpec;
