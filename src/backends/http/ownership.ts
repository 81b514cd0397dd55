/** How a preset knows its own rules on the far side: the note or comment each one carries. */
import type { HttpConfig } from '../../runtime/http-config.js';

/**
 * The mark that says a rule is ours: "palisade:<owner>:". Cloudflare notes and RouterOS comments start with it;
 * a rule without it is never deleted, whatever its address.
 */
export function ownershipMarker(config: HttpConfig): string {
  return `palisade:${config.owner}:`;
}

/**
 * The note stored with a rule: our marker, why (the alert's rule when known, else config `reason`), and the
 * address at the end, so that an API that can only search notes finds it. Alert text is reduced to printable
 * ASCII on one line and cut to the same 120 characters as `reason`.
 */
export function ruleNote(config: HttpConfig, address: string, note?: string): string {
  const why = note?.replace(/[^\x20-\x7e]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 120);
  return `${ownershipMarker(config)} ${why || config.reason} [${address}]`;
}

export function isOurs(config: HttpConfig, note: unknown): boolean {
  return typeof note === 'string' && note.startsWith(ownershipMarker(config));
}
