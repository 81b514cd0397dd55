/**
 * The HTTP firewall backend: one Backend whose verbs are served by the configured preset. The preset module,
 * its credentials and its CA are loaded on the first verb, so that ensure() is where a wrong path, an open
 * secret file or a missing section is reported, before any address is involved.
 */
import type { Backend, BackendContext, EnsureOutcome } from '../backend.js';
import { BackendError } from '../backend.js';
import type { HttpConfig } from './config.js';

/** What a preset implements: every verb but ensure, which for an API means "the config and secrets are usable", and inspect. */
export type PresetBackend = Omit<Backend, 'name' | 'ensure' | 'inspect'>;

export function createHttpBackend(ctx: BackendContext): Backend {
  let opened: Promise<PresetBackend> | undefined;
  const preset = () => (opened ??= openPreset(ctx));
  return {
    name: 'http',
    // Nothing to create on the far side: our rules live in the firewall's own objects.
    ensure: async (): Promise<EnsureOutcome> => {
      await preset();
      return { created: false, restored: 0 };
    },
    add: async (block, ttl) => (await preset()).add(block, ttl),
    refresh: async (block, ttl) => (await preset()).refresh(block, ttl),
    delete: async (block) => (await preset()).delete(block),
    list: async () => (await preset()).list(),
    flush: async () => (await preset()).flush(),
    // The API's own objects hold our rules, with no counters Palisade reads; doctor checks the http: section.
    inspect: async () => ({ findings: [], counters: [] }),
  };
}

async function openPreset(ctx: BackendContext): Promise<PresetBackend> {
  const config: HttpConfig | undefined = ctx.config.http;
  if (config === undefined) {
    throw new BackendError('backend "http" needs an http: section in palisade.yml (preset, url and credentials)', { tool: 'palisade' });
  }
  switch (config.preset) {
    case 'generic':
      return (await import('./generic.js')).createGenericPreset(config, ctx);
    case 'cloudflare':
      return (await import('./cloudflare.js')).createCloudflarePreset(config, ctx);
    case 'opnsense':
      return (await import('./opnsense.js')).createOpnsensePreset(config, ctx);
    case 'mikrotik':
      return (await import('./mikrotik.js')).createMikrotikPreset(config, ctx);
  }
}
