/**
 * The two option parsers whose mistakes an administrator meets first, without root or a kernel: an AR
 * command's <extra_args> (runtime/options.ts) and the palisade CLI's argv (cli/args.ts, driven through the
 * real verb declarations of cli/verbs.ts). Every refusal must name the argument; nothing unknown passes.
 */
import { describe, expect, it } from 'vitest';
import { parseArgs, secondsArgument, UsageError, validateOptions, verbHelp, type VerbSpec } from '../../src/cli/args.js';
import { verbs } from '../../src/cli/verbs.js';
import { looksLikeUrl, optionFlag, optionWords, OptionsError, parseCommandOptions } from '../../src/runtime/options.js';

describe('<extra_args>: parseCommandOptions', () => {
  it('takes nothing as no options, and every known flag in both spellings', () => {
    expect(parseCommandOptions(undefined)).toEqual({});
    expect(parseCommandOptions([])).toEqual({});
    expect(parseCommandOptions(['--backend', 'ipset', '--ttl=1h', '--reject', '--source-field', 'data.srcip', '--source-field=data.win.eventdata.ipAddress'])).toEqual({
      backend: 'ipset',
      ttl: 3600,
      reject: true,
      sourceFields: ['data.srcip', 'data.win.eventdata.ipAddress'],
    });
    expect(parseCommandOptions(['--ttl', '600'])).toEqual({ ttl: 600 });
  });

  it.each<[string, unknown[], RegExp]>([
    ['an unknown flag, naming the known ones', ['--tll', '60'], /unknown option "--tll" in extra_args \(known: --source-field, --backend, --ttl, --reject\)/],
    ['a flag without its value', ['--ttl'], /option --ttl needs a value/],
    ['a flag whose value is the next flag', ['--backend', '--reject'], /option --backend needs a value/],
    ['a value on a flag that takes none', ['--reject=yes'], /option --reject takes no value/],
    ['a flag given twice', ['--ttl', '60', '--ttl', '70'], /option --ttl given twice/],
    ['an argument that is not a string', [42], /extra_args\[0\] is not a string/],
    ['a bad duration, naming the flag', ['--ttl', 'soon'], /option --ttl: "soon" is not a duration/],
    ['a backend that is not a firewall', ['--backend', 'pf'], /option --backend: /],
    ['a command\'s own backend', ['--backend', 'hosts-deny'], /option --backend: hosts-deny is only ever the backend of palisade-host-deny/],
    ['a field path with a space', ['--source-field', 'data.src ip'], /option --source-field: must be a dotted field path/],
  ])('refuses %s', (_what, args, message) => {
    expect(() => parseCommandOptions(args)).toThrow(OptionsError);
    expect(() => parseCommandOptions(args)).toThrow(message);
  });

  it('refuses a URL anywhere, a flag\'s value included, without quoting it', () => {
    for (const args of [['https://hooks.slack.com/services/T0/B0/secret'], ['--ttl', 'hooks.slack.com/services/x'], ['--url=10.0.0.5:8443/hook']]) {
      let message = '';
      try {
        parseCommandOptions(args);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message, args.join(' ')).toMatch(/^a URL is refused here: .*notify\.url_file/);
      expect(message).not.toContain('slack.com/services');
    }
    expect(looksLikeUrl('data.srcip')).toBe(false);
    expect(looksLikeUrl('<https://x.example/a>')).toBe(true);
  });

  it('splits 5.x\'s one string as a shell would, and passes 4.x\'s list as it is', () => {
    expect(optionWords('--source-field "data.src ip"')).toEqual(['--source-field', 'data.src ip']);
    expect(optionWords(['--ttl', '60'])).toEqual(['--ttl', '60']);
    expect(optionWords(null)).toEqual([]);
    expect(optionWords(undefined)).toEqual([]);
  });

  it('names an option by its flag', () => {
    expect(optionFlag('sourceFields')).toBe('--source-field');
    expect(optionFlag('ttl')).toBe('--ttl');
  });
});

/** The declaration of one of the CLI's verbs, as main.ts finds it. */
function spec(name: string): VerbSpec {
  const found = verbs.find((verb) => verb.name === name);
  if (!found) throw new Error(`no verb ${name}`);
  return found as unknown as VerbSpec;
}

describe('palisade argv: parseArgs and validateOptions', () => {
  it('splits global flags from the verb\'s own, in any order, values inline or apart', () => {
    expect(parseArgs(spec('block'), ['--json', '192.0.2.7', '--for=7d', '--reason', 'scanner', '--root', '/opt/ossec'])).toEqual({
      globals: { json: true, root: '/opt/ossec', noColor: false, help: false },
      raw: { address: '192.0.2.7', ttl: '7d', reason: 'scanner' },
    });
    expect(parseArgs(spec('flush'), ['-y']).raw).toEqual({ yes: true });
    expect(parseArgs(spec('status'), ['-h']).globals.help).toBe(true);
  });

  it('takes what follows -- as positionals, "-" (stdin) too', () => {
    expect(parseArgs(spec('block'), ['--', '--for']).raw).toEqual({ address: '--for' });
    expect(parseArgs(spec('block'), ['--from', '-']).raw).toEqual({ from: '-' });
  });

  it.each<[string, string, string[], RegExp]>([
    ['an unknown flag, naming the verb\'s', 'flush', ['--force'], /^unknown option "--force" for palisade flush \(its options: --yes, --backend; see palisade flush --help\)$/],
    ['a verb with no flags of its own', 'status', ['--all'], /its options: none of its own/],
    ['a missing value', 'block', ['192.0.2.7', '--for'], /^--for needs a value \(--for DURATION; see palisade block --help\)$/],
    ['a flag where the value should be', 'block', ['--for', '--json'], /^--for needs a value/],
    ['a value on a flag without one', 'flush', ['--yes=1'], /^--yes takes no value/],
    ['a flag given twice', 'block', ['192.0.2.7', '--for', '1h', '--for=2h'], /^--for is given twice/],
    ['an argument too many', 'block', ['192.0.2.7', '192.0.2.8'], /^unexpected argument "192\.0\.2\.8" for palisade block/],
  ])('refuses %s', (_what, verb, argv, message) => {
    expect(() => parseArgs(spec(verb), argv)).toThrow(UsageError);
    expect(() => parseArgs(spec(verb), argv)).toThrow(message);
  });

  it('refuses a missing required positional, except for --help (no verb has one today: a declaration of the test\'s own)', () => {
    const required: VerbSpec = { ...spec('unblock'), name: 'demo', positionals: [{ key: 'address', placeholder: 'ADDRESS', help: 'x' }] };
    expect(() => parseArgs(required, [])).toThrow(/^ADDRESS is missing \(see palisade demo --help\)$/);
    expect(parseArgs(required, ['--help']).globals.help).toBe(true);
    expect(parseArgs(spec('simulate'), []).raw).toEqual({});
  });

  it('types the values through the verb\'s schema, and names the flag of a bad one', () => {
    const block = spec('block');
    expect(validateOptions(block, parseArgs(block, ['198.51.100.0/24', '--for', '12h']).raw)).toMatchObject({
      address: { address: '198.51.100.0/24', family: 4, prefix: 24 },
      ttl: 43_200,
    });
    expect(() => validateOptions(block, parseArgs(block, ['192.0.2.7', '--for', 'forever']).raw)).toThrow(/^--for: "forever" is not a duration .*\(see palisade block --help\)$/);
    expect(() => validateOptions(block, parseArgs(block, ['not-an-ip']).raw)).toThrow(/^ADDRESS: /);
  });

  it('reads a number of seconds as 5, 30s or 2m, and nothing else', () => {
    expect(['5', '30s', '2m'].map((text) => secondsArgument.parse(text))).toEqual([5, 30, 120]);
    for (const text of ['1h', '-5', '1.5', '', 'm']) expect(secondsArgument.safeParse(text).success, text).toBe(false);
  });

  it('shows in --help every flag the parser takes, from the same declaration', () => {
    for (const verb of verbs) {
      const help = verbHelp(verb as unknown as VerbSpec);
      for (const flag of Object.keys((verb as unknown as VerbSpec).flags)) expect(help, `${verb.name} ${flag}`).toContain(flag);
      for (const flag of ['--json', '--root DIR', '--no-color', '-h, --help']) expect(help).toContain(flag);
    }
  });
});
