/** `palisade list`: its arguments and options, which --help and the parser read without loading the verb's code. */
import * as z from 'zod/mini';
import type { VerbSpec } from './args.js';
import { backendFlag, backendOption } from './common.js';

export const listSchema = z.strictObject({ backend: backendOption });
export type ListOptions = z.infer<typeof listSchema>;

export const listVerb = {
  name: 'list',
  summary: 'active blocks with their rule, age and expiry, checked against the firewall',
  details: ['Address, backend, command, since, expires in, the rule id and description of the alert, and whether the', 'firewall holds it; blocks the firewall holds but the state does not know are listed too.'],
  flags: backendFlag('only this backend'),
  positionals: [],
  schema: listSchema,
} satisfies VerbSpec;
