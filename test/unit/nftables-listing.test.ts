/**
 * The reader of `nft -j list table` (palisade list, status, reconcile), on nft 1.0.6's own JSON captured
 * from a namespace: no root, no kernel.
 */
import { describe, expect, it } from 'vitest';
import { BackendError } from '../../src/backends/backend.js';
import { blocksInListing } from '../../src/backends/nftables-listing.js';
import { setNames } from '../../src/backends/nftables-script.js';

/** Our table with a timed element in each timed set, an untimed network and a range in net6, and a set that is not ours. */
const listing = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { table: { family: 'inet', name: 'palisade', handle: 1 } },
    { set: { family: 'inet', name: 'addr4', table: 'palisade', type: 'ipv4_addr', handle: 1, flags: ['timeout'], elem: [{ elem: { val: '192.0.2.66', timeout: 600, expires: 599 } }] } },
    { set: { family: 'inet', name: 'addr6', table: 'palisade', type: 'ipv6_addr', handle: 2, flags: ['timeout'], elem: [{ elem: { val: '2001:db8::66', timeout: 3600, expires: 3599 } }] } },
    {
      set: {
        family: 'inet', name: 'net4', table: 'palisade', type: 'ipv4_addr', handle: 3, flags: ['interval', 'timeout'],
        elem: [{ elem: { val: { prefix: { addr: '198.51.100.0', len: 24 } }, timeout: 300, expires: 299 } }],
      },
    },
    {
      set: {
        family: 'inet', name: 'net6', table: 'palisade', type: 'ipv6_addr', handle: 4, flags: ['interval'],
        elem: [{ prefix: { addr: '2001:db8:200::', len: 48 } }, { range: ['2001:db8:300::1', '2001:db8:300::5'] }],
      },
    },
    { set: { family: 'inet', name: 'other', table: 'palisade', type: 'ipv4_addr', handle: 5, elem: ['203.0.113.1'] } },
    { chain: { family: 'inet', table: 'palisade', name: 'input', handle: 6 } },
  ],
});

describe('blocksInListing', () => {
  it('reads every element of our sets with the seconds it has left, and nothing of other sets', () => {
    expect(blocksInListing(listing, setNames)).toEqual([
      { address: '192.0.2.66', family: 4, prefix: 32, expiresIn: 599 },
      { address: '2001:db8::66', family: 6, prefix: 128, expiresIn: 3599 },
      { address: '198.51.100.0/24', family: 4, prefix: 24, expiresIn: 299 },
      // No timer: no expiresIn. The range is not a prefix, so it cannot be Palisade's: not listed.
      { address: '2001:db8:200::/48', family: 6, prefix: 48, expiresIn: undefined },
    ]);
  });

  it('reads only the sets it is told are ours', () => {
    expect(blocksInListing(listing, ['other'])).toEqual([{ address: '203.0.113.1', family: 4, prefix: 32, expiresIn: undefined }]);
    expect(blocksInListing(listing, [])).toEqual([]);
  });

  it('reads an empty table (sets without elem) as nothing blocked', () => {
    const empty = JSON.stringify({ nftables: [{ set: { family: 'inet', name: 'addr4', table: 'palisade', type: 'ipv4_addr', handle: 1, flags: ['timeout'] } }] });
    expect(blocksInListing(empty, setNames)).toEqual([]);
  });

  it('leaves out an element that is not an address rather than guessing', () => {
    const odd = JSON.stringify({ nftables: [{ set: { name: 'addr4', elem: ['not-an-address', { elem: { val: '192.0.2.300' } }, '192.0.2.1'] } }] });
    expect(blocksInListing(odd, setNames)).toEqual([{ address: '192.0.2.1', family: 4, prefix: 32, expiresIn: undefined }]);
  });

  it('refuses a listing of another shape with a BackendError naming nft', () => {
    for (const text of ['{"tables": []}', '{"nftables": {"set": {}}}', '[]']) {
      expect(() => blocksInListing(text, setNames), text).toThrow(BackendError);
      expect(() => blocksInListing(text, setNames), text).toThrow(/nft -j printed a listing this version of Palisade does not understand/);
    }
  });

  it('lets invalid JSON fail as the SyntaxError it is', () => {
    expect(() => blocksInListing('{"nftables": [', setNames)).toThrow(SyntaxError);
  });
});
