/**
 * The `notify:` section of etc/palisade.yml: which chat the webhook belongs to, where its URL is kept, how
 * patient to be, and for a generic webhook the JSON to post. Validated only when the section exists (see
 * parseConfig), so hosts that never notify never build these schemas.
 *
 * The webhook URL is the credential (anyone holding a Slack or Teams webhook URL can post to the channel), so
 * it lives in url_file (mode 0600) or in a private config file, never in <extra_args>.
 */
import * as z from 'zod/mini';
import { numberBetween, transportLimitsShape, absolutePathSchema } from './http-transport.js';
import { dialectFields, type DialectFields } from './message.js';

export const notifyFormats = ['slack', 'teams', 'generic'] as const;

/** A {placeholder}: braces around anything without braces, quotes or spaces. Text such as "{ x }" stays literal. */
export const placeholderPattern = /\{([^{}\s"]+)\}/g;

/** A placeholder names a field of the alert by its dotted path, as Wazuh's decoders name fields. */
const alertPathPattern = /^[A-Za-z0-9_@-]+(\.[A-Za-z0-9_@-]+)*$/;

/** Why text cannot be the webhook URL, or undefined when it can. Never quotes the text: it is a credential. */
export function webhookUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:') return 'must be an https:// URL (it is a credential and the alert is private: neither may cross the network in clear)';
  if (url.hash !== '') return 'must hold no #fragment';
  return undefined;
}

const webhookUrlSchema = z.string().check(
  z.superRefine((text, ctx) => {
    const problem = webhookUrlProblem(text);
    if (problem !== undefined) ctx.issues.push({ code: 'custom', message: problem, input: '[webhook URL]' });
  }),
);

/** The issues of one string leaf of a template: every placeholder must be a dotted path into the alert. */
function placeholderIssues(text: string): string[] {
  return [...text.matchAll(placeholderPattern)]
    .map((match) => match[1] ?? '')
    .filter((name) => !alertPathPattern.test(name))
    .map((name) => `{${name}} is not a placeholder: use a dotted path into the alert, such as {rule.description} or {data.srcip}`);
}

/**
 * The JSON a generic webhook receives. String leaves may hold {dotted.path} placeholders into the alert; a leaf
 * that is one placeholder alone takes the field's JSON value ("{rule.level}" becomes 10, a missing field null).
 */
const templateSchema = z.record(z.string(), z.json()).check(
  z.superRefine((template, ctx) => {
    const visit = (node: unknown, path: PropertyKey[]): void => {
      if (typeof node === 'string') {
        for (const message of placeholderIssues(node)) ctx.issues.push({ code: 'custom', path, message, input: node });
      } else if (Array.isArray(node)) {
        node.forEach((item, index) => visit(item, [...path, index]));
      } else if (node !== null && typeof node === 'object') {
        for (const [key, item] of Object.entries(node)) visit(item, [...path, key]);
      }
    };
    visit(template, []);
  }),
);

/**
 * What a generic webhook gets when no template is given: the fields a receiver most often wants, flat, under the
 * same keys in either dialect (4.x: {rule.description}, {data.srcip}, ...; 5.x: {wazuh.rule.title}, {source.ip}, ...).
 */
export function defaultGenericTemplate(fields: DialectFields = dialectFields['4.x']): Record<string, string> {
  const at = (path: string) => `{${path}}`;
  return {
    title: at(fields.rule.description),
    level: at(fields.rule.level),
    rule_id: at(fields.rule.id),
    agent_id: at(fields.agent.id),
    agent_name: at(fields.agent.name),
    srcip: at(fields.sourceFields.at(-1)!),
    location: at(fields.location),
    full_log: at(fields.fullLog),
    timestamp: at(fields.timestamp),
    alert_id: '{id}',
  };
}

export const notifyConfigSchema = z
  .strictObject({
    /** slack: an incoming webhook; teams: a Workflows "when a webhook request is received" flow; generic: any JSON receiver. */
    format: z.enum(notifyFormats),
    /** File holding the webhook URL alone; it must not be readable by group or others. */
    url_file: z.optional(absolutePathSchema),
    /** The webhook URL itself, accepted only when the config file is private (mode 0600 or stricter). */
    url: z.optional(webhookUrlSchema),
    ...transportLimitsShape,
    /**
     * execd runs one AR at a time and waits for each: a dead webhook holds up every other response of this
     * agent (blocks included) for this long at most. Hence less than the firewall APIs' default.
     */
    budget: z._default(numberBetween(0, 600), 10),
    /** format generic only: the JSON body, with placeholders. Default: defaultGenericTemplate(), per dialect. */
    template: z.optional(templateSchema),
  })
  .check(
    z.superRefine((config, ctx) => {
      const issue = (key: string, message: string) => ctx.issues.push({ code: 'custom', path: [key], message, input: config });
      if (config.url_file !== undefined && config.url !== undefined) issue('url', 'set url_file or url, not both');
      if (config.url_file === undefined && config.url === undefined) issue('url_file', 'name the file holding the webhook URL (readable by root only)');
      if (config.template !== undefined && config.format !== 'generic') issue('template', `a template applies to format generic only; ${config.format} has its own message`);
    }),
  );

export type NotifyConfig = z.infer<typeof notifyConfigSchema>;
export type NotifyFormat = NotifyConfig['format'];
