/**
 * What palisade-notify posts: the alert as a Slack message, a Microsoft Teams card, or a generic webhook's own
 * JSON template. Every alert field may be missing or of an unexpected type; each becomes text or is left out.
 *
 * Alert text is the attacker's text (a log line, a user name, a URL they requested), so it is escaped for the
 * chat it lands in: Slack reads <!channel>, <@U123> and <https://x|y> as mentions and links, Teams cards read
 * Markdown links and emphasis. JSON serialisation does the rest.
 */
import { parseAddress, blockText } from '../runtime/address.js';
import { dialectFields, fieldValue, findSourceValue, type DialectFields } from '../runtime/message.js';
import { defaultGenericTemplate, placeholderPattern, type NotifyConfig } from '../runtime/notify-config.js';

/** Enough of a log line to act on; a chat message is no place for a 64 KiB event. */
export const maxLogChars = 1500;
const maxFieldChars = 300;

/** The alert as the chat messages show it: only what is there, as text. */
export interface AlertView {
  description: string | undefined;
  /** 4.x: 0 to 15; 5.x: a Sigma level word (informational, low, medium, high, critical). */
  level: number | string | undefined;
  ruleId: string | undefined;
  /** "(001) web01" / "web01" / "(001)". */
  agent: string | undefined;
  agentlessHost: string | undefined;
  location: string | undefined;
  /** The attacker's address, where the other commands would look for it, when it is one. */
  source: string | undefined;
  fullLog: string | undefined;
  /** Epoch seconds of alert.timestamp. */
  time: number | undefined;
}

export type Severity = 'low' | 'medium' | 'high' | 'unknown';

const sigmaSeverities: ReadonlyMap<string, Severity> = new Map([
  ['informational', 'low'],
  ['low', 'low'],
  ['medium', 'medium'],
  ['high', 'high'],
  ['critical', 'high'],
]);

/** wazuh-slack's thresholds: up to 4 is routine, 5 to 7 worth a look, 8 and above an attack; 5.x's Sigma words likewise. */
export function severityOf(level: number | string | undefined): Severity {
  if (level === undefined) return 'unknown';
  if (typeof level === 'string') return sigmaSeverities.get(level) ?? 'unknown';
  if (level <= 4) return 'low';
  return level <= 7 ? 'medium' : 'high';
}

/** A scalar as text, cut at max characters; anything else (objects, arrays, empty strings) is absent. */
function textOf(value: unknown, max = maxFieldChars): string | undefined {
  let text: string;
  if (typeof value === 'string') text = value.trim();
  else if (typeof value === 'number' && Number.isFinite(value)) text = String(value);
  else if (typeof value === 'boolean') text = String(value);
  else return undefined;
  return text === '' ? undefined : truncate(text, max);
}

export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  // Never cut a surrogate pair in two: half an emoji is not valid text.
  const end = /[\uD800-\uDBFF]/.test(text[max - 1] ?? '') ? max - 1 : max;
  return `${text.slice(0, end)}… [${text.length - end} more characters]`;
}

export function viewOf(alert: Record<string, unknown>, sourceFields: readonly string[], fields: DialectFields = dialectFields['4.x']): AlertView {
  const at = (path: string, max?: number) => textOf(fieldValue(alert, path), max);
  const levelText = at(fields.rule.level);
  const levelValue = Number(levelText);
  const agentId = at(fields.agent.id);
  const agentName = at(fields.agent.name);
  const agent = agentId !== undefined && agentName !== undefined ? `(${agentId}) ${agentName}` : agentName ?? (agentId !== undefined ? `(${agentId})` : undefined);
  const found = findSourceValue(alert, sourceFields);
  const parsed = found !== undefined ? parseAddress(found.value) : undefined;
  const timestamp = at(fields.timestamp);
  const time = timestamp !== undefined ? Date.parse(timestamp) : Number.NaN;
  return {
    description: at(fields.rule.description),
    level: Number.isInteger(levelValue) && levelValue >= 0 ? levelValue : fields.levelIsWord && levelText !== undefined && sigmaSeverities.has(levelText) ? levelText : undefined,
    ruleId: at(fields.rule.id),
    agent,
    agentlessHost: at('agentless.host'),
    location: at(fields.location),
    source: parsed?.ok ? blockText(parsed.block) : undefined,
    fullLog: at(fields.fullLog, maxLogChars),
    time: Number.isNaN(time) ? undefined : Math.floor(time / 1000),
  };
}

/** The one-line account: what a notification preview, a fallback text or a log reader shows. */
export function summaryOf(view: AlertView): string {
  const level = view.level !== undefined ? ` (level ${view.level})` : '';
  const agent = view.agent !== undefined ? ` on ${view.agent}` : '';
  return `Wazuh alert${level}: ${view.description ?? 'no rule description'}${agent}`;
}

/** Label and value of each field the alert has, in the order wazuh-slack shows them. */
function factsOf(view: AlertView): Array<[string, string]> {
  const rule = view.ruleId !== undefined ? `${view.ruleId}${view.level !== undefined ? ` (level ${view.level})` : ''}` : undefined;
  const facts: Array<[string, string | undefined]> = [
    ['Agent', view.agent],
    ['Agentless host', view.agentlessHost],
    ['Location', view.location],
    ['Rule', rule],
    ['Source address', view.source],
  ];
  return facts.filter((fact): fact is [string, string] => fact[1] !== undefined);
}

/** Slack's three control characters; everything else is literal in a message attachment. */
export function slackEscape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

const slackColours: Record<Severity, string | undefined> = { low: 'good', medium: 'warning', high: 'danger', unknown: undefined };

/**
 * An incoming-webhook message with one attachment, as wazuh-slack sends (colour bar by level, title, log line,
 * fields), plus a fallback for notifications and the alert's own time rather than alert.id.
 */
export function slackBody(view: AlertView): Record<string, unknown> {
  const colour = slackColours[severityOf(view.level)];
  return {
    attachments: [
      {
        fallback: slackEscape(summaryOf(view)),
        ...(colour !== undefined ? { color: colour } : {}),
        pretext: 'Wazuh alert',
        title: slackEscape(view.description ?? 'no rule description'),
        ...(view.fullLog !== undefined ? { text: slackEscape(view.fullLog) } : {}),
        fields: factsOf(view).map(([title, value]) => ({ title, value: slackEscape(value), short: true })),
        ...(view.time !== undefined ? { ts: view.time } : {}),
      },
    ],
  };
}

/**
 * The characters that make Markdown links, emphasis and code in a card's TextBlock and FactSet. Escaped with a
 * backslash, which Teams honours; line-start syntax (lists, headings) is left alone, as it cannot hide a link.
 */
export function markdownEscape(text: string): string {
  return text.replace(/[\\`*_~[\]]/g, (char) => `\\${char}`);
}

const cardStyles: Record<Severity, string> = { low: 'good', medium: 'warning', high: 'attention', unknown: 'default' };

/**
 * A Teams message carrying an Adaptive Card. Office 365 connectors and their MessageCard are retired; the
 * Workflows app's "Send webhook alerts to a channel" flow, their replacement, posts the card it finds in
 * attachments[0].content. Version 1.4 renders in every Teams client.
 */
export function teamsBody(view: AlertView): Record<string, unknown> {
  const severity = severityOf(view.level);
  const heading = `Wazuh alert${view.level !== undefined ? ` · level ${view.level}` : ''}`;
  const body: unknown[] = [
    {
      type: 'Container',
      style: cardStyles[severity],
      bleed: true,
      items: [
        { type: 'TextBlock', text: heading, size: 'Small', weight: 'Bolder', wrap: true },
        { type: 'TextBlock', text: markdownEscape(view.description ?? 'no rule description'), size: 'Large', weight: 'Bolder', wrap: true },
      ],
    },
  ];
  const facts = factsOf(view);
  if (facts.length > 0) body.push({ type: 'FactSet', facts: facts.map(([title, value]) => ({ title, value: markdownEscape(value) })) });
  if (view.fullLog !== undefined) {
    // A TextBlock breaks lines only on a blank line (Markdown paragraphs); a multi-line log keeps its lines.
    body.push({ type: 'TextBlock', text: markdownEscape(view.fullLog).replace(/\r?\n/g, '\n\n'), fontType: 'Monospace', size: 'Small', wrap: true });
  }
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          msteams: { width: 'Full' },
          body,
        },
      },
    ],
  };
}

/** A field as text inside a longer string: scalars as themselves, objects as JSON, missing as nothing. */
function inlineText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/**
 * Fills a generic template's string leaves from the alert. The result is serialised as JSON, which escapes
 * whatever the alert holds: a field can never add a key or end a string.
 */
export function renderTemplate(template: unknown, alert: Record<string, unknown>): unknown {
  if (typeof template === 'string') {
    const whole = /^\{([^{}\s"]+)\}$/.exec(template);
    if (whole !== null) return fieldValue(alert, whole[1]!) ?? null;
    return template.replace(placeholderPattern, (_, path: string) => inlineText(fieldValue(alert, path)));
  }
  if (Array.isArray(template)) return template.map((item) => renderTemplate(item, alert));
  if (template !== null && typeof template === 'object') {
    return Object.fromEntries(Object.entries(template).map(([key, item]) => [key, renderTemplate(item, alert)]));
  }
  return template;
}

export function notificationBody(config: NotifyConfig, alert: Record<string, unknown>, sourceFields: readonly string[], fields?: DialectFields): unknown {
  switch (config.format) {
    case 'slack':
      return slackBody(viewOf(alert, sourceFields, fields));
    case 'teams':
      return teamsBody(viewOf(alert, sourceFields, fields));
    case 'generic':
      return renderTemplate(config.template ?? defaultGenericTemplate(fields), alert);
  }
}
