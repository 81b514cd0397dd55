/**
 * What every command that acts on the attacker's address shares (palisade-drop, palisade-host-deny,
 * palisade-route-null): where the address is in the alert, how it is normalised into the key, and the
 * allow-list that no such command may ever act against.
 */
import type { Block } from '../backends/backend.js';
import { blockText, parseAddress, widenTo } from '../runtime/address.js';
import { findAllowed } from '../runtime/allowlist.js';
import { findSourceValue } from '../runtime/message.js';
import type { CommandContext, Targeting } from './command.js';

export interface AddressTarget {
  block: Block;
  /** The alert field the address came from, for the log. */
  field: string;
}

export function sourceFields(ctx: CommandContext): readonly string[] {
  return ctx.options.sourceFields ?? ctx.config.source_fields ?? ctx.fields.sourceFields;
}

export function targetSource(ctx: CommandContext): Targeting<AddressTarget> {
  const fields = sourceFields(ctx);
  const found = findSourceValue(ctx.alert, fields);
  if (!found) {
    return { ok: false, wazuhMessage: ctx.fields.invalidSource, detail: `no address in ${fields.join(', ')} (set --source-field or source_fields: for this alert)` };
  }
  const parsed = parseAddress(found.value);
  if (!parsed.ok) {
    return { ok: false, wazuhMessage: ctx.fields.invalidSource, detail: `${found.field} is ${parsed.reason}` };
  }
  const block = parsed.block.family === 6 ? widenTo(parsed.block, ctx.config.ipv6_prefix) : parsed.block;
  return { ok: true, target: { block, field: found.field }, keys: [blockText(block)] };
}

/** Why this address must be left alone (loopback, this host, its gateway, its manager, allowlist:), if it must. */
export async function allowlistReason(ctx: CommandContext, target: AddressTarget): Promise<string | undefined> {
  const allowed = await findAllowed(target.block, ctx.config, ctx.installDir, { log: ctx.log });
  return allowed ? `${blockText(target.block)} is allow-listed: ${allowed.why} (${blockText(allowed.range)})` : undefined;
}
