/**
 * palisade-drop: block the alert's source address on a firewall until execd's delete (or the kernel's own
 * timer, max_ttl, if that delete never comes). Keys on the normalised address, as Wazuh's firewall-drop.
 * The backend-pinned names (palisade-nftables-drop, ...) are the same command on one firewall.
 */
import type { Backend, BackendName, Block } from '../backends/backend.js';
import { detectBackend } from '../backends/detect.js';
import { loadBackend } from '../backends/registry.js';
import { blockText, parseAddress, widenTo } from '../runtime/address.js';
import { buildAllowlist, findAllowed } from '../runtime/allowlist.js';
import { formatDuration } from '../runtime/duration.js';
import { defaultSourceFields, findSourceValue, wazuhMessages } from '../runtime/message.js';
import { StateStore, statePaths, withEntry, withoutEntry, withoutExpired, type StateEntry } from '../runtime/state.js';
import type { ArCommand, CommandContext, Targeting } from './command.js';

export interface DropTarget {
  block: Block;
  /** The alert field the address came from, for the log. */
  field: string;
}

export function sourceFields(ctx: CommandContext): readonly string[] {
  return ctx.options.sourceFields ?? ctx.config.source_fields ?? defaultSourceFields;
}

export function targetSource(ctx: CommandContext): Targeting<DropTarget> {
  const fields = sourceFields(ctx);
  const found = findSourceValue(ctx.alert, fields);
  if (!found) {
    return { ok: false, wazuhMessage: wazuhMessages.invalidSource, detail: `no address in ${fields.join(', ')} (set --source-field or source_fields: for this alert)` };
  }
  const parsed = parseAddress(found.value);
  if (!parsed.ok) {
    return { ok: false, wazuhMessage: wazuhMessages.invalidSource, detail: `${found.field} is ${parsed.reason}` };
  }
  const block = parsed.block.family === 6 ? widenTo(parsed.block, ctx.config.ipv6_prefix) : parsed.block;
  return { ok: true, target: { block, field: found.field }, keys: [blockText(block)] };
}

function ruleOf(alert: Record<string, unknown>): StateEntry['reason'] {
  const rule = alert.rule as Record<string, unknown> | undefined;
  if (!rule || typeof rule !== 'object') return undefined;
  const id = typeof rule.id === 'string' || typeof rule.id === 'number' ? String(rule.id) : undefined;
  const description = typeof rule.description === 'string' ? rule.description.slice(0, 256) : undefined;
  return { ...(id !== undefined ? { ruleId: id } : {}), ...(description !== undefined ? { description } : {}) };
}

export function dropCommand(pinned?: BackendName): ArCommand<DropTarget> {
  const chooseBackend = (ctx: CommandContext): BackendName => pinned ?? ctx.options.backend ?? (ctx.config.backend === 'auto' ? detectBackend() : ctx.config.backend);
  const ttlOf = (ctx: CommandContext) => Math.min(ctx.options.ttl ?? ctx.config.max_ttl, ctx.config.max_ttl);

  const store = (ctx: CommandContext) => {
    const paths = statePaths(ctx.installDir);
    return new StateStore(paths.file, paths.lock, (detail, movedTo) =>
      ctx.log.warn({ event: 'state-corrupt', detail, moved_to: movedTo }, 'the state file was unreadable; it was set aside and a new one started'),
    );
  };

  const open = async (ctx: CommandContext, name: BackendName, state: { entries: StateEntry[] }): Promise<Backend> => {
    const config = ctx.options.reject ? { ...ctx.config, action: 'reject' as const } : ctx.config;
    const now = Math.floor(Date.now() / 1000);
    return loadBackend(name, {
      config,
      log: ctx.log,
      restorable: () => state.entries.filter((entry) => entry.backend === name && entry.expiresAt > now),
    });
  };

  /** add and refresh differ only in the backend verb and the word in the log. */
  const apply = async (ctx: CommandContext, target: DropTarget, verb: 'add' | 'refresh') => {
    const backendName = chooseBackend(ctx);
    const ttl = ttlOf(ctx);
    const address = blockText(target.block);
    const outcome = await store(ctx).update(ctx.config.lock_timeout, async (current) => {
      const state = withoutExpired(current);
      const backend = await open(ctx, backendName, state);
      const result = verb === 'add' ? await backend.add(target.block, ttl) : await backend.refresh(target.block, ttl);
      const now = Math.floor(Date.now() / 1000);
      const previous = state.entries.find((entry) => entry.backend === backendName && entry.address === address);
      const reason = previous?.reason ?? ruleOf(ctx.alert);
      const entry: StateEntry = {
        address,
        family: target.block.family,
        prefix: target.block.prefix,
        backend: backendName,
        command: ctx.name,
        since: previous?.since ?? now,
        expiresAt: now + ttl,
        ...(reason ? { reason } : {}),
        ...(result.backendData ?? previous?.backendData ? { backendData: result.backendData ?? previous?.backendData } : {}),
      };
      return { state: withEntry(state, entry), result };
    });
    const event = verb === 'add' ? 'blocked' : 'refreshed';
    ctx.log.info({
      event,
      address,
      backend: backendName,
      result: outcome.result,
      field: target.field,
      ttl,
      restored: outcome.restored,
      rule: ruleOf(ctx.alert),
    });
    const already = outcome.result === 'present' ? ' (it was already blocked)' : '';
    const restored = outcome.restored > 0 ? `; restored ${outcome.restored} block(s) lost from the firewall` : '';
    ctx.tell(`${event} ${address} on ${backendName} for ${formatDuration(ttl)} at most${already}${restored}`);
  };

  return {
    name: pinned ? `palisade-${pinned}-drop` : 'palisade-drop',
    stateful: true,
    target: targetSource,
    async skipReason(ctx, target) {
      const allowed = findAllowed(target.block, await buildAllowlist(ctx.config, ctx.installDir));
      return allowed ? `${blockText(target.block)} is allow-listed: ${allowed.why} (${blockText(allowed.range)})` : undefined;
    },
    add: (ctx, target) => apply(ctx, target, 'add'),
    refresh: (ctx, target) => apply(ctx, target, 'refresh'),
    async delete(ctx, target) {
      const address = blockText(target.block);
      let backendName: BackendName | undefined;
      const outcome = await store(ctx).update(ctx.config.lock_timeout, async (current) => {
        // Undo it where it was made, even if the configured backend has changed since.
        const made = current.entries.filter((entry) => entry.address === address);
        const preferred = pinned ?? ctx.options.backend;
        const entry = made.find((e) => e.backend === preferred) ?? made[0];
        backendName = entry?.backend ?? chooseBackend(ctx);
        const state = withoutExpired(current);
        const backend = await open(ctx, backendName, state);
        const result = await backend.delete(entry ? { ...target.block, expiresAt: entry.expiresAt, backendData: entry.backendData } : target.block);
        return { state: withoutEntry(state, { backend: backendName, address }), result };
      });
      ctx.log.info({ event: 'unblocked', address, backend: backendName, result: outcome.result, restored: outcome.restored });
      ctx.tell(`unblocked ${address} on ${backendName}${outcome.result === 'absent' ? ' (it was not blocked)' : ''}`);
    },
  };
}
