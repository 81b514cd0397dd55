/** What address.ts makes of an address or a network: canonical text, its family and its prefix length. */
export interface AddressRange {
  /** Canonical text: "203.0.113.7", "2001:db8::1", or a network "198.51.100.0/24". */
  address: string;
  family: 4 | 6;
  /** 32 or 128 for a single host; smaller for a network. */
  prefix: number;
}

/**
 * An address or network to block, already validated and normalised by address.ts. The same shape as the ranges
 * the allow-list protects (AddressRange), under the name of what the commands and backends do with it.
 */
export type Block = AddressRange;

/** The range alone, of anything that carries one (a state entry, a firewall's listing): what a backend is handed. */
export function blockOf(range: AddressRange): Block {
  return { address: range.address, family: range.family, prefix: range.prefix };
}
