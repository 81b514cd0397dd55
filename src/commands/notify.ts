/**
 * palisade-notify: posts the alert to a chat webhook (Slack, Microsoft Teams, or any receiver of JSON).
 * Stateless: it never writes to stdout, so execd reads end of file, sends no continue or abort and keeps no
 * timer; a notification sent cannot be taken back, so a delete does nothing.
 *
 * No curl or wget: the URL, a credential, comes from a private file or a private config, never from
 * <extra_args>, which execd's message and so active-responses.log carry verbatim (one there is refused); each request is bounded by notify.timeout and
 * the run by notify.budget, with 429 and 5xx retried as the HTTP firewall backend retries them, through the same
 * client; alert text is escaped for the chat it lands in; a failure is one error record with the webhook's words.
 */
import { NotifyError } from '../runtime/errors.js';
import { HttpClient, usualErrorMessage } from '../runtime/http-client.js';
import { readCaFile, resolveSecret } from '../runtime/http-secrets.js';
import { sourceFields } from './address-target.js';
import type { ArCommand, CommandContext } from './command.js';
import { ruleOf, unusedOptionRefusal } from './common.js';
import { notificationBody } from './notify-bodies.js';
import { webhookUrlProblem, type NotifyConfig } from '../runtime/notify-config.js';

/** Below this a URL part is a common word ("services", "invoke", "1.0") the log scrubber would mangle everywhere. */
const minimumSecretPart = 16;

/**
 * Every part of a webhook URL that gives it away: the URL, its path and query together, and each long path
 * segment or query value (Slack's token, a Teams workflow id and its sig), raw and decoded, so that none of them
 * can reach a log line or an error on its own.
 */
export function webhookUrlSecrets(text: string): string[] {
  const url = new URL(text);
  const rawQuery = url.search.slice(1).split('&').flatMap((pair) => pair.split('='));
  const parts = [...url.pathname.split('/'), ...rawQuery, ...url.searchParams.values()].filter((part) => part.length >= minimumSecretPart);
  const whole = [text, url.href, `${url.pathname}${url.search}`].filter((part) => part.length > 1);
  return [...new Set([...whole, ...parts, ...(url.password !== '' ? [url.password, decodeURIComponent(url.password)] : [])])];
}

/** The webhook URL from notify.url_file (mode 0600) or notify.url in a private config, checked and registered as secret. */
function webhookUrl(config: NotifyConfig, ctx: CommandContext): string {
  const url = resolveSecret({ file: config.url_file, inline: config.url, fileOption: 'url_file', inlineOption: 'url', section: 'notify' }, ctx);
  const problem = webhookUrlProblem(url);
  if (problem !== undefined) {
    const origin = config.url_file !== undefined ? `notify.url_file ${config.url_file}` : 'notify.url';
    throw new NotifyError(`${origin} ${problem}`, { tool: 'palisade' });
  }
  for (const secret of webhookUrlSecrets(url)) ctx.log.addSecret(secret);
  return url;
}

export function notifyCommand(): ArCommand<undefined> {
  return {
    name: 'palisade-notify',
    stateful: false,
    // --source-field says where the attacker's address is, for the message's "Source address".
    target: (ctx) => unusedOptionRefusal(ctx, ['sourceFields']) ?? { ok: true, target: undefined, keys: [] },
    async add(ctx) {
      const config = ctx.config.notify;
      if (config === undefined) {
        throw new NotifyError('palisade-notify needs a notify: section in etc/palisade.yml: format (slack, teams or generic) and url_file, a file readable by root only holding the webhook URL', { tool: 'palisade' });
      }
      const url = webhookUrl(config, ctx);
      const client = new HttpClient({
        config: { ...config, url },
        label: config.format,
        section: 'notify',
        ctx,
        headers: {},
        ca: readCaFile(config.ca_file, 'notify'),
        describeError: usualErrorMessage,
        secrets: webhookUrlSecrets(url),
        secretUrl: true,
        // The outcome is this command's one record (notified, or the dispatcher's error), not one per request.
        recordRequests: false,
      });
      const body = notificationBody(config, ctx.alert, sourceFields(ctx), ctx.fields);
      // Slack answers "ok" in plain text, Teams Workflows 202 with nothing: only the status says how it went.
      const answer = await client.request({ method: 'POST', body, verb: 'notify', bodyMayBeText: true });
      const rule = ruleOf(ctx);
      ctx.log.info({ event: 'notified', format: config.format, status: answer.status, attempts: answer.attempts, elapsed_ms: answer.elapsedMs, ...(rule ? { rule } : {}) });
      const tries = answer.attempts === 1 ? '' : ` after ${answer.attempts} attempts`;
      ctx.tell(`posted the alert to the ${config.format} webhook: HTTP ${answer.status}${tries}, ${answer.elapsedMs} ms`);
    },
    async delete(ctx) {
      ctx.log.info({ event: 'nothing-to-undo' }, 'a notification cannot be taken back: palisade-notify does nothing on delete');
      ctx.tell('a notification cannot be taken back: nothing to do on delete');
    },
  };
}
