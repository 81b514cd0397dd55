/** `palisade block`: its arguments and options, which --help and the parser read without loading the verb's code. */
import * as z from 'zod/mini';
import { durationSchema, networkSchema } from '../runtime/config.js';
import type { VerbSpec } from './args.js';
import { backendFlag, backendOption, fromOption } from './common.js';

export const blockSchema = z.strictObject({
  address: z.optional(networkSchema()),
  from: fromOption,
  ttl: z.optional(durationSchema()),
  reason: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
  backend: backendOption,
});
export type BlockOptions = z.infer<typeof blockSchema>;

export const blockVerb = {
  name: 'block',
  summary: 'block an address or network by hand (same firewall, state and log as palisade-drop)',
  details: [
    'The allow-list applies (this host, its gateways and manager, allowlist: in palisade.yml).',
    'A network inside a wider blocked network is already blocked; a network over narrower blocked ones replaces them.',
    'Nothing sends a delete for a manual block: it lasts --for, or max_ttl, or until palisade unblock.',
    '--from reads a threat list (plain, FireHOL .netset, Spamhaus DROP; # and ; start comments) and applies it in one',
    'firewall transaction; bad lines and allow-listed entries are refused by line number, and a summary counts',
    'added, present, skipped and refused.',
  ],
  flags: {
    '--for': { key: 'ttl', placeholder: 'DURATION', help: 'how long (3600, 30m, 12h, 7d; default and maximum: max_ttl)' },
    '--reason': { key: 'reason', placeholder: 'TEXT', help: 'why, for palisade list and the log' },
    ...backendFlag('the firewall to use instead of backend: of palisade.yml'),
    '--from': { key: 'from', placeholder: 'FILE', help: 'block every address or network of a list, one a line (- for stdin), instead of ADDRESS' },
  },
  positionals: [{ key: 'address', placeholder: 'ADDRESS', help: 'an IPv4 or IPv6 address, or a network such as 198.51.100.0/24', optional: true }],
  schema: blockSchema,
} satisfies VerbSpec;
