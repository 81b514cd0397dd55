/**
 * The HTTP firewall backend: one Backend whose verbs are served by the configured preset. The preset module,
 * its credentials and its CA are loaded on the first verb, so that ensure() is where a wrong path, an open
 * secret file or a missing section is reported, before any address is involved.
 */
import { CredentialError, HttpRequestError } from '../../runtime/errors.js';
import type { Backend, BackendContext, EnsureOutcome } from '../backend.js';
import { BackendError } from '../backend.js';
import type { HttpConfig } from '../../runtime/http-config.js';
import type { PresetBackend } from './preset.js';

/** A failed request or an unusable credential, reported as every firewall's failure is: a BackendError, same message and details. */
async function asBackend<T>(verb: () => Promise<T>): Promise<T> {
  try {
    return await verb();
  } catch (error) {
    if (error instanceof HttpRequestError || error instanceof CredentialError) throw new BackendError(error.message, error.details);
    throw error;
  }
}

export function createHttpBackend(ctx: BackendContext): Backend {
  let opened: Promise<PresetBackend> | undefined;
  const preset = () => (opened ??= openPreset(ctx));
  return {
    name: 'http',
    // Nothing to create on the far side: our rules live in the firewall's own objects.
    ensure: () =>
      asBackend(async (): Promise<EnsureOutcome> => {
        await preset();
        return { created: false, restored: 0 };
      }),
    add: (block, ttl) => asBackend(async () => (await preset()).add(block, ttl)),
    refresh: (block, ttl) => asBackend(async () => (await preset()).refresh(block, ttl)),
    delete: (block) => asBackend(async () => (await preset()).delete(block)),
    list: () => asBackend(async () => (await preset()).list()),
    flush: () => asBackend(async () => (await preset()).flush()),
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
