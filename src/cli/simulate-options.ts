/** `palisade simulate`: its arguments and options, which --help and the parser read without loading the verb's code. */
import * as z from 'zod/mini';
import { commandNames } from '../commands/index.js';
import { secondsArgument, type VerbSpec } from './args.js';

export const simulateSchema = z.strictObject({
  alert: z.optional(z.string().check(z.minLength(1))),
  ip: z.optional(z.string().check(z.minLength(1))),
  command: z._default(z.enum(commandNames as [string, ...string[]]), 'palisade-drop'),
  timeout: z._default(secondsArgument, 5),
  extraArgs: z.optional(z.string()),
});
export type SimulateOptions = z.infer<typeof simulateSchema>;

export const simulateVerb = {
  name: 'simulate',
  summary: 'run an alert through an AR command as wazuh-execd does, step by step',
  details: [
    'Runs the command link from the install dir with argv[0] active-response/bin/NAME, as execd: it really blocks,',
    'waits --timeout seconds (the <timeout> of an <active-response> block), then sends the delete.',
  ],
  flags: {
    '--ip': { key: 'ip', placeholder: 'ADDRESS', help: 'an alert from this source address (data.srcip)' },
    '--alert': { key: 'alert', placeholder: 'FILE', help: 'an alert as JSON (one line of alerts.json), or - for stdin' },
    '--command': { key: 'command', placeholder: 'NAME', help: 'the AR command to run (default palisade-drop)' },
    '--timeout': { key: 'timeout', placeholder: 'SECONDS', help: 'seconds before the delete (default 5; 0: a command without timeout, no delete)' },
    '--extra-args': { key: 'extraArgs', placeholder: 'ARGS', help: 'the <extra_args> of the command, e.g. "--ttl 60"' },
  },
  positionals: [],
  schema: simulateSchema,
} satisfies VerbSpec;
