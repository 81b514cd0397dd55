/** Command name (the link's name) → its module, loaded only when that command runs. */
import type { BackendName } from '../backends/backend.js';
import type { ArCommand } from './command.js';

type Loader = () => Promise<ArCommand<never>>;

const dropFor = (pinned?: BackendName): Loader => async () => (await import('./drop.js')).dropCommand(pinned) as ArCommand<never>;

export const commands: Record<string, Loader> = {
  'palisade-drop': dropFor(),
  'palisade-nftables-drop': dropFor('nftables'),
  'palisade-ipset-drop': dropFor('ipset'),
  'palisade-iptables-drop': dropFor('iptables'),
  'palisade-http-drop': dropFor('http'),
  'palisade-host-deny': dropFor('hosts-deny'),
  'palisade-route-null': dropFor('null-route'),
  'palisade-disable-account': async () => (await import('./disable-account.js')).disableAccountCommand() as ArCommand<never>,
  'palisade-quarantine': async () => (await import('./quarantine.js')).quarantineCommand() as ArCommand<never>,
  'palisade-notify': async () => (await import('./notify.js')).notifyCommand() as ArCommand<never>,
  'palisade-unblock': async () => (await import('./unblock.js')).unblockCommand() as ArCommand<never>,
  'palisade-block': async () => (await import('./fleet-block.js')).fleetBlockCommand() as ArCommand<never>,
};

export const commandNames = Object.keys(commands);
