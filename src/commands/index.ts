/** Command name (the link's name) → its module, loaded only when that command runs. */
import type { BackendName } from '../runtime/backend-names.js';
import type { ArCommand } from './command.js';

/** Every AR command: the links the packages install, in the order ossec.conf's snippets list them. */
const names = [
  'palisade-drop',
  'palisade-nftables-drop',
  'palisade-ipset-drop',
  'palisade-iptables-drop',
  'palisade-http-drop',
  'palisade-host-deny',
  'palisade-route-null',
  'palisade-disable-account',
  'palisade-quarantine',
  'palisade-notify',
  'palisade-unblock',
  'palisade-block',
] as const;
export type CommandName = (typeof names)[number];

export type CommandLoader = () => Promise<ArCommand<unknown>>;

const dropFor = (pinned?: BackendName): CommandLoader => async () => (await import('./drop.js')).dropCommand(pinned);

/** A name without its loader, or a loader without its name, is a type error here. */
const loaders: Record<CommandName, CommandLoader> = {
  'palisade-drop': dropFor(),
  'palisade-nftables-drop': dropFor('nftables'),
  'palisade-ipset-drop': dropFor('ipset'),
  'palisade-iptables-drop': dropFor('iptables'),
  'palisade-http-drop': dropFor('http'),
  'palisade-host-deny': dropFor('hosts-deny'),
  'palisade-route-null': dropFor('null-route'),
  'palisade-disable-account': async () => (await import('./disable-account.js')).disableAccountCommand(),
  'palisade-quarantine': async () => (await import('./quarantine.js')).quarantineCommand(),
  'palisade-notify': async () => (await import('./notify.js')).notifyCommand(),
  'palisade-unblock': async () => (await import('./unblock.js')).unblockCommand(),
  'palisade-block': async () => (await import('./fleet-block.js')).fleetBlockCommand(),
};

/** Looked up by a link's name, which may be any text: through ownEntry, never by plain indexing. */
export const commands: Readonly<Record<string, CommandLoader>> = loaders;
export const commandNames: string[] = [...names];
