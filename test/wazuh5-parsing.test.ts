/**
 * The two readers behind the 5.x dialect whose mistakes would be silent: the scan that finds every top-level
 * "command" (JSON.parse keeps only the last of duplicates), and the split of extra_arguments into words.
 * Their outcomes through the binary are in test/wazuh5.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { topLevelMembers, topLevelValues } from '../src/runtime/json-members.js';
import { OptionsError, splitCommandLine } from '../src/runtime/options.js';
import { parseInput, parseReply } from '../src/runtime/message.js';

describe('every top-level "command", in document order', () => {
  it.each<[string, string, unknown[]]>([
    ['no command', '{"a":1}', []],
    ['one command', '{"command":"enable"}', ['enable']],
    ['execd appended a second', '{"command":"ls -la","x":1,"command":"enable"}', ['ls -la', 'enable']],
    ['an escaped name is the same name, as cJSON reads it', '{"comm\\u0061nd":"disable","command":"enable"}', ['disable', 'enable']],
    ['a case variant is another name', '{"Command":"disable","command":"enable"}', ['enable']],
    ['a nested command is not top-level', '{"x":{"command":"disable","y":[{"command":"abort"}]},"command":"enable"}', ['enable']],
    ['a string holding a command member is text', '{"event":{"original":"\\"command\\":\\"disable\\", }"},"s":"\\\\","command":"enable"}', ['enable']],
    ['braces and brackets inside strings', '{"a":"{[}]\\"","b":["}",{"c":"]"}],"command":"enable"}', ['enable']],
    ['whitespace everywhere', ' { "command" : "disable" ,\n\t"x" : [ 1 , 2 ] , "command" :"enable" } ', ['disable', 'enable']],
    ['literals and numbers as values', '{"a":true,"b":null,"c":-1.5e3,"command":"enable"}', ['enable']],
    ['a non-string command', '{"command":{"x":"enable"},"command":["disable"]}', [{ x: 'enable' }, ['disable']]],
    ['__proto__ as a name', '{"__proto__":{"command":"x"},"command":"enable"}', ['enable']],
    ['not an object', '["command","enable"]', []],
  ])('%s', (_name, text, expected) => {
    JSON.parse(text);
    expect(topLevelValues(text, 'command')).toEqual(expected);
  });

  it('10,000 nested arrays cost a loop, not the stack', () => {
    const text = `{"deep":${'['.repeat(10_000)}${']'.repeat(10_000)},"command":"enable"}`;
    expect(topLevelValues(text, 'command')).toEqual(['enable']);
  });

  it('a 60 KB document with thousands of members is read in one pass', () => {
    const members = Array.from({ length: 4000 }, (_, i) => `"k${i}":"v${i}"`).join(',');
    const text = `{${members},"command":"enable"}`;
    const started = performance.now();
    expect(topLevelMembers(text)).toHaveLength(4001);
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe("execd's own verb", () => {
  const finding = '"wazuh":{"active_response":{"type":"stateful","stateful_timeout":60}},"source":{"ip":"203.0.113.7"}';
  const verb = (line: string, pipe = true) => {
    const parsed = parseInput(line, { execdAwaitsKeys: () => pipe });
    return parsed.ok ? parsed.request.verb : parsed.detail;
  };

  it('on the request, the last: execd appends its own after the finding\'s', () => {
    expect(verb(`{"command":"ls -la",${finding},"command":"enable"}`)).toBe('add');
    expect(verb(`{"command":"continue",${finding},"command":"enable"}`)).toBe('add');
  });

  it('a disable replaced the first and left the appended enable: the pipes tell it from an enable', () => {
    const line = `{"command":"disable",${finding},"command":"enable"}`;
    expect(verb(line, false)).toBe('delete');
    expect(verb(line, true)).toBe('add');
  });

  it('on the reply, the first: execd replaces it, and the last still reads enable', () => {
    expect(parseReply(`{"command":"continue",${finding},"command":"enable"}`, '5.x')).toEqual({ ok: true, decision: 'continue' });
    expect(parseReply(`{"command":"abort",${finding},"command":"enable"}`, '5.x')).toEqual({ ok: true, decision: 'abort' });
    expect(parseReply(`{"command":"enable",${finding},"command":"abort"}`, '5.x')).toMatchObject({ ok: false });
  });

  it('a reply in the other dialect is not execd\'s answer', () => {
    expect(parseReply('{"version":1,"command":"continue","parameters":{}}', '5.x')).toMatchObject({ ok: false });
    expect(parseReply(`{${finding},"command":"continue"}`, '4.x')).toMatchObject({ ok: false });
  });

  it.each(['__proto__', 'toString', 'constructor', 'hasOwnProperty', 'add', 'delete', 'continue', ''])('"%s" is no 5.x verb', (command) => {
    expect(verb(`{${finding},"command":${JSON.stringify(command)}}`)).toMatch(/is not enable or disable/);
  });

  it.each(['__proto__', 'toString', 'valueOf'])('"%s" is no 4.x verb either', (command) => {
    expect(verb(`{"version":1,"command":"${command}","parameters":{}}`)).toMatch(/is not add or delete/);
  });
});

describe('extra_arguments split like a command line, without a shell', () => {
  it.each<[string, string[]]>([
    ['', []],
    ['   ', []],
    ['--ttl 1h', ['--ttl', '1h']],
    ['  --ttl\t1h \n --reject ', ['--ttl', '1h', '--reject']],
    ["--source-field 'destination.ip'", ['--source-field', 'destination.ip']],
    ['--source-field "a b"', ['--source-field', 'a b']],
    ['--x "say \\"hi\\" \\\\ \\$HOME \\a"', ['--x', 'say "hi" \\ $HOME \\a']],
    ["--x 'no \\escapes \"here\"'", ['--x', 'no \\escapes "here"']],
    ['--x a\\ b', ['--x', 'a b']],
    ['--x ""', ['--x', '']],
    ["--x=''", ['--x=']],
    ['--x=$(reboot) `id` $HOME *', ['--x=$(reboot)', '`id`', '$HOME', '*']],
    ["a'b'\"c\"d", ['abcd']],
    ['--x a;rm -rf /', ['--x', 'a;rm', '-rf', '/']],
  ])('%j', (text, words) => {
    expect(splitCommandLine(text)).toEqual(words);
  });

  it.each([
    ["--x 'open", "unbalanced ' at character 5"],
    ['--x "open', 'unbalanced " at character 5'],
    ['--x "a\\"', 'unbalanced " at character 5'],
    ['--x a\\', 'lone backslash'],
  ])('%j is refused: the administrator meant something we cannot know', (text, message) => {
    expect(() => splitCommandLine(text)).toThrow(OptionsError);
    expect(() => splitCommandLine(text)).toThrow(message);
  });
});
