/** `palisade reconcile`: its arguments and options, which --help and the parser read without loading the verb's code. */
import * as z from 'zod/mini';
import type { VerbSpec } from './args.js';
import { backendFlag, backendOption } from './common.js';

export const reconcileSchema = z.strictObject({ backend: backendOption });
export type ReconcileOptions = z.infer<typeof reconcileSchema>;

export const reconcileVerb = {
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
} satisfies VerbSpec;
