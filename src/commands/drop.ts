/**
 * palisade-drop: block the alert's source address on a firewall until execd's delete (or the kernel's own
 * timer, max_ttl, if that delete never comes). Keys on the normalised address, as Wazuh's firewall-drop.
 * The backend-pinned names (palisade-nftables-drop, ...) are the same command on one firewall.
 */
import { backendNames, type Backend, type BackendName, type Block } from '../backends/backend.js';
import { detectBackend } from '../backends/detect.js';
import { loadBackend } from '../backends/registry.js';
import { blockText, parseAddress, widenTo } from '../runtime/address.js';
import { buildAllowlist, findAllowed } from '../runtime/allowlist.js';
import { formatDuration } from '../runtime/duration.js';
import { defaultSourceFields, findSourceValue, wazuhMessages } from '../runtime/message.js';
import { nowSeconds, StateStore, stateDir, type StateEntry } from '../runtime/state.js';
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

  const store = (ctx: CommandContext) =>
    new StateStore(stateDir(ctx.installDir), (file, detail) =>
      ctx.log.warn({ event: 'state-corrupt', file, detail }, 'a state entry was unreadable and was set aside'),
    );

  const open = (ctx: CommandContext, name: BackendName, state: StateStore): Promise<Backend> => {
    const config = ctx.options.reject ? { ...ctx.config, action: 'reject' as const } : ctx.config;
    // Read only when the backend finds its tables gone: the add path never lists the state.
    return loadBackend(name, { config, log: ctx.log, restorable: () => state.active(name) });
  };

  /** add and refresh differ only in the backend verb and the word in the log. */
  const apply = async (ctx: CommandContext, target: DropTarget, verb: 'add' | 'refresh') => {
    const backendName = chooseBackend(ctx);
    const ttl = ttlOf(ctx);
    const address = blockText(target.block);
    const state = store(ctx);
    const outcome = await state.locked(ctx.config.lock_timeout, async () => {
      const backend = await open(ctx, backendName, state);
      const result = verb === 'add' ? await backend.add(target.block, ttl) : await backend.refresh(target.block, ttl);
      const now = nowSeconds();
      const previous = state.get({ backend: backendName, address });
      const current = previous && previous.expiresAt > now ? previous : undefined;
      const reason = current?.reason ?? ruleOf(ctx.alert);
      const backendData = result.backendData ?? current?.backendData;
      state.put({
        address,
        family: target.block.family,
        prefix: target.block.prefix,
        backend: backendName,
        command: ctx.name,
        since: current?.since ?? now,
        expiresAt: now + ttl,
        ...(reason ? { reason } : {}),
        ...(backendData ? { backendData } : {}),
      });
      return result;
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
      const state = store(ctx);
      let backendName: BackendName = chooseBackend(ctx);
      const outcome = await state.locked(ctx.config.lock_timeout, async () => {
        // Undo it where it was made, even if the configured backend has changed since.
        const made = [backendName, ...backendNames.filter((name) => name !== backendName)]
          .map((backend) => state.get({ backend, address }))
          .find((entry) => entry !== undefined);
        if (made) backendName = made.backend;
        const backend = await open(ctx, backendName, state);
        const result = await backend.delete(made ? { ...target.block, expiresAt: made.expiresAt, backendData: made.backendData } : target.block);
        state.remove({ backend: backendName, address });
        return result;
      });
      ctx.log.info({ event: 'unblocked', address, backend: backendName, result: outcome.result, restored: outcome.restored });
      ctx.tell(`unblocked ${address} on ${backendName}${outcome.result === 'absent' ? ' (it was not blocked)' : ''}`);
    },
  };
}
