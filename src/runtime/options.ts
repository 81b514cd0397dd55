/**
 * Per-command options from Wazuh's <extra_args> (4.x execd passes them as parameters.extra_args, split on
 * spaces; 5.x as the one string wazuh.active_response.extra_arguments, split here). A typo in ossec.conf must never become a silent no-op or an unexpected block, so an unknown
 * or malformed flag refuses the run, naming the flag.
 */
import * as z from 'zod/mini';
import { chosenBackendSchema, durationSchema, fieldPathSchema } from './config.js';
import { lazy } from './lazy.js';
import { ownEntry } from './own.js';

const commandOptionsSchema = lazy(() =>
  z.strictObject({
    sourceFields: z.optional(z.array(fieldPathSchema())),
    backend: z.optional(chosenBackendSchema()),
    ttl: z.optional(durationSchema()),
    reject: z.optional(z.boolean()),
  }),
);

export type CommandOptions = z.infer<ReturnType<typeof commandOptionsSchema>>;

type FlagSpec = { key: keyof CommandOptions; takesValue: boolean; repeatable?: boolean };

const flags: Record<string, FlagSpec> = {
  '--source-field': { key: 'sourceFields', takesValue: true, repeatable: true },
  '--backend': { key: 'backend', takesValue: true },
  '--ttl': { key: 'ttl', takesValue: true },
  '--reject': { key: 'reject', takesValue: false },
};

/** The <extra_args> flag that sets an option, for messages: sourceFields → --source-field. */
export function optionFlag(key: keyof CommandOptions): string {
  return Object.entries(flags).find(([, spec]) => spec.key === key)?.[0] ?? key;
}

/**
 * A webhook URL pasted into <extra_args> (as wazuh-slack wants it), anywhere in an argument and however it
 * is wrapped: scheme://..., --url=..., "...", <...>, or without its scheme, as a host (hooks.slack.com,
 * 10.0.0.5:8443) followed by a path.
 */
export function looksLikeUrl(arg: string): boolean {
  return /[a-z][a-z0-9+.-]*:\/\/|[a-z0-9-]+(?:\.[a-z0-9-]+)+(?::\d{1,5})?\/|[a-z0-9-]+:\d{1,5}\//i.test(arg);
}

export class OptionsError extends Error {
  override name = 'OptionsError';
}

/**
 * Splits 5.x's extra_arguments into words as a POSIX shell would, without one: whitespace separates; '…' keeps
 * everything literally; "…" keeps everything but \\, \", \$, \` and a backslash-newline; a backslash outside
 * quotes keeps the next character. Nothing is expanded ($HOME, *, ~ stay as written) and nothing is run.
 * An unbalanced quote or a trailing backslash is refused: the administrator meant something we cannot know.
 */
export function splitCommandLine(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new OptionsError(`unbalanced ' at character ${i + 1} of extra_arguments`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (char === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && j + 1 < text.length && '\\"$`\n'.includes(text[j + 1]!)) {
          j++;
          if (text[j] !== '\n') word += text[j];
        } else word += text[j];
      }
      if (j >= text.length) throw new OptionsError(`unbalanced " at character ${i + 1} of extra_arguments`);
      inWord = true;
      i = j;
    } else if (char === '\\') {
      if (i + 1 >= text.length) throw new OptionsError('extra_arguments ends with a lone backslash');
      i++;
      // A backslash-newline joins lines, as in a shell.
      if (text[i] !== '\n') {
        word += text[i];
        inWord = true;
      }
    } else if (char === ' ' || char === '\t' || char === '\n') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** The options' words as either dialect delivers them: 4.x's list as is, 5.x's string split (null: none). */
export function optionWords(extraArgs: readonly unknown[] | string | null | undefined): readonly unknown[] {
  if (typeof extraArgs === 'string') return splitCommandLine(extraArgs);
  return extraArgs ?? [];
}

export function parseCommandOptions(extraArgs: readonly unknown[] | undefined): CommandOptions {
  const raw: Record<string, unknown> = {};
  const args = extraArgs ?? [];
  // Most <command> blocks have no <extra_args>: nothing to validate.
  if (args.length === 0) return {};
  // Every argument first, a flag's value too: a URL given as --ttl's value must not reach the message naming it.
  if (args.some((arg) => typeof arg === 'string' && looksLikeUrl(arg))) {
    throw new OptionsError(
      'a URL is refused here: execd\'s message, and so active-responses.log, carry <extra_args> verbatim, and a webhook URL is a credential; put it in a file readable by root only and name that file in etc/palisade.yml (notify.url_file)',
    );
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (typeof arg !== 'string') throw new OptionsError(`extra_args[${i}] is not a string`);
    const [name, inlineValue] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const spec = ownEntry(flags, name);
    if (!spec) {
      throw new OptionsError(`unknown option "${arg.slice(0, 64)}" in extra_args (known: ${Object.keys(flags).join(', ')})`);
    }
    let value: unknown = true;
    if (spec.takesValue) {
      value = inlineValue ?? args[++i];
      if (typeof value !== 'string' || value.startsWith('--')) throw new OptionsError(`option ${name} needs a value`);
    } else if (inlineValue !== undefined) {
      throw new OptionsError(`option ${name} takes no value`);
    }
    if (spec.repeatable) {
      raw[spec.key] = [...((raw[spec.key] as unknown[] | undefined) ?? []), value];
    } else if (spec.key in raw) {
      throw new OptionsError(`option ${name} given twice`);
    } else {
      raw[spec.key] = value;
    }
  }
  const parsed = commandOptionsSchema().safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = Object.entries(flags).find(([, spec]) => spec.key === issue?.path[0])?.[0] ?? 'extra_args';
    throw new OptionsError(`option ${flag}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}
