/**
 * Every `palisade` verb: its arguments, its options' schema and where its code is. The code of a verb is
 * imported only when that verb runs; this table is all `palisade --help` needs.
 */
import * as z from 'zod/mini';
import { backendNames } from '../backends/backend.js';
import { commandNames } from '../commands/index.js';
import { durationSchema, networkSchema } from '../runtime/config.js';
import { secondsArgument, type VerbSpec } from './args.js';
import type { CliContext } from './context.js';

export interface VerbModule<T> {
  run(ctx: CliContext, options: T): Promise<number>;
}

export interface Verb<T = unknown> extends VerbSpec {
  load(): Promise<VerbModule<T>>;
}

const backendOption = z.optional(z.enum(backendNames));
const backendFlag = (help: string) => ({ '--backend': { key: 'backend', placeholder: 'NAME', help: `${help} (${backendNames.join(', ')})` } });

export const statusSchema = z.strictObject({});
export const listSchema = z.strictObject({ backend: backendOption });
/** FILE or - (stdin): a threat list, one address or network per line (runtime/threat-list.ts). */
const fromOption = z.optional(z.string().check(z.minLength(1), z.maxLength(4096)));
export const blockSchema = z.strictObject({
  address: z.optional(networkSchema()),
  from: fromOption,
  ttl: z.optional(durationSchema()),
  reason: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
  backend: backendOption,
});
export const unblockSchema = z.strictObject({ address: z.optional(networkSchema()), from: fromOption, backend: backendOption });
export const flushSchema = z.strictObject({ yes: z.optional(z.boolean()), backend: backendOption });
export const reconcileSchema = z.strictObject({ backend: backendOption });
export const doctorSchema = z.strictObject({});
export const simulateSchema = z.strictObject({
  alert: z.optional(z.string().check(z.minLength(1))),
  ip: z.optional(z.string().check(z.minLength(1))),
  command: z._default(z.enum(commandNames as [string, ...string[]]), 'palisade-drop'),
  timeout: z._default(secondsArgument, 5),
  extraArgs: z.optional(z.string()),
});

export type ListOptions = z.infer<typeof listSchema>;
export type BlockOptions = z.infer<typeof blockSchema>;
export type UnblockOptions = z.infer<typeof unblockSchema>;
export type FlushOptions = z.infer<typeof flushSchema>;
export type ReconcileOptions = z.infer<typeof reconcileSchema>;
export type SimulateOptions = z.infer<typeof simulateSchema>;

function verb<S extends z.ZodMiniType>(spec: VerbSpec & { schema: S; load(): Promise<VerbModule<z.infer<S>>> }): Verb {
  return spec as unknown as Verb;
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
  verb({
    name: 'list',
    summary: 'active blocks with their rule, age and expiry, checked against the firewall',
    details: ['Address, backend, command, since, expires in, the rule id and description of the alert, and whether the', 'firewall holds it; blocks the firewall holds but the state does not know are listed too.'],
    flags: backendFlag('only this backend'),
    positionals: [],
    schema: listSchema,
    load: () => import('./list.js'),
  }),
  verb({
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
    load: () => import('./block.js'),
  }),
  verb({
    name: 'unblock',
    summary: 'lift a block, wherever Palisade made it (by hand or from an alert)',
    details: [
      "If execd still has this block in its timeout list, its later delete finds nothing to do and says so.",
      '--from lifts the operator\'s hold (what block --from gave) on every address of a list, one transaction per',
      'firewall; a block an alert also holds stays until that alert ends (palisade unblock ADDRESS lifts every hold).',
    ],
    flags: {
      ...backendFlag('when the state has no entry: the firewall to remove it from (with --from: only this firewall)'),
      '--from': { key: 'from', placeholder: 'FILE', help: 'the reverse of block --from: a list, one address or network a line (- for stdin)' },
    },
    positionals: [{ key: 'address', placeholder: 'ADDRESS', help: 'the blocked address or network, as palisade list shows it', optional: true }],
    schema: unblockSchema,
    load: () => import('./unblock.js'),
  }),
  verb({
    name: 'flush',
    summary: "remove every firewall block Palisade made, its tables, chains and sets, and the state's entries",
    details: ['Asks for confirmation on a terminal; anywhere else it needs --yes.'],
    flags: { '--yes': { key: 'yes', short: '-y', help: 'do not ask' }, ...backendFlag('only this backend') },
    positionals: [],
    schema: flushSchema,
    load: () => import('./flush.js'),
  }),
  verb({
    name: 'reconcile',
    summary: 'make the firewalls match the state after a reload or a reboot',
    details: [
      'Puts back unexpired blocks lost to a firewall reload or a reboot, removes expired ones and any the state does not',
      'know. palisade-reconcile.service runs it at boot and when nftables, firewalld, netfilter-persistent or docker',
      'restart or reload; palisade-recheck.timer every 10 minutes.',
    ],
    flags: backendFlag('only this backend'),
    positionals: [],
    schema: reconcileSchema,
    load: () => import('./reconcile.js'),
  }),
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
  verb({
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
    load: () => import('./simulate.js'),
  }),
];

export function findVerb(name: string): Verb | undefined {
  return verbs.find((candidate) => candidate.name === name);
}
