/**
 * Reads `nft -j list table` for the nftables backend's list(). A module of its own so that only the CLI,
 * which lists, loads it: the add path never reads a set.
 */
import * as z from 'zod/mini';
import { parseAddress } from '../runtime/address.js';
import type { FirewallBlock } from './backend.js';
import { BackendError } from './backend.js';

/** nft prints a set element without a timer as its bare value, and one with a timer wrapped in "elem". */
const elementValueSchema = z.union([
  z.string(),
  z.object({ prefix: z.object({ addr: z.string(), len: z.int() }) }),
  z.object({ range: z.tuple([z.string(), z.string()]) }),
]);
const setListingSchema = z.object({
  name: z.string(),
  elem: z.optional(
    z.array(z.union([elementValueSchema, z.object({ elem: z.object({ val: elementValueSchema, expires: z.optional(z.number()) }) })])),
  ),
});
const listingSchema = z.object({ nftables: z.array(z.record(z.string(), z.unknown())) });

/** The blocks held in the sets named `ours`, with the seconds each has left in the kernel. */
export function blocksInListing(json: string, ours: readonly string[]): FirewallBlock[] {
  const parsed = listingSchema.safeParse(JSON.parse(json));
  if (!parsed.success) throw new BackendError('nft -j printed a listing this version of Palisade does not understand', { tool: 'nft' });
  const blocks: FirewallBlock[] = [];
  for (const item of parsed.data.nftables) {
    const set = setListingSchema.safeParse(item.set);
    if (!set.success || !ours.includes(set.data.name)) continue;
    for (const element of set.data.elem ?? []) {
      const { val, expires } = typeof element === 'object' && 'elem' in element ? element.elem : { val: element, expires: undefined };
      // A range that is not a prefix cannot have come from Palisade and has no Block form: it is not listed.
      const text = typeof val === 'string' ? val : 'prefix' in val ? `${val.prefix.addr}/${val.prefix.len}` : undefined;
      const address = text === undefined ? undefined : parseAddress(text, { allowNetwork: true });
      if (address?.ok) blocks.push({ ...address.block, expiresIn: expires });
    }
  }
  return blocks;
}
