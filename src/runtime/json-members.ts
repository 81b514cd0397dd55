/**
 * The top-level members of a JSON object, read from its text in document order, duplicates included.
 *
 * JSON.parse keeps the last of two members with the same name; cJSON (execd, Wazuh's AR library) finds the
 * first. 5.x execd appends its own "command" to a finding that may already carry one, and later replaces the
 * first, so telling execd's verb apart needs every "command" member (issue 17).
 *
 * Call only on text JSON.parse has accepted: the scanner trusts the grammar and only finds where things end.
 */

export interface JsonMember {
  /** The member's name, unescaped ("comm\u0061nd" is "command", as cJSON reads it). */
  key: string;
  /** Where the member's name starts (its opening quote). */
  keyStart: number;
  /** Where its value starts and ends (end exclusive) in the text. */
  valueStart: number;
  valueEnd: number;
}

const whitespace = new Set([' ', '\t', '\n', '\r']);

function skipWhitespace(text: string, at: number): number {
  while (at < text.length && whitespace.has(text[at]!)) at++;
  return at;
}

/** The index just after the string that opens at `at`. */
function stringEnd(text: string, at: number): number {
  let i = at + 1;
  while (i < text.length) {
    const char = text[i];
    if (char === '\\') i += 2;
    else if (char === '"') return i + 1;
    else i++;
  }
  return text.length;
}

/** The index just after the value that starts at `at`: a string, an object or array (nested to any depth), or a literal. */
function valueEnd(text: string, at: number): number {
  const first = text[at];
  if (first === '"') return stringEnd(text, at);
  if (first === '{' || first === '[') {
    // Iterative, so 10,000 nested arrays cost a loop, not the stack.
    let depth = 0;
    let i = at;
    while (i < text.length) {
      const char = text[i];
      if (char === '"') {
        i = stringEnd(text, i);
        continue;
      }
      if (char === '{' || char === '[') depth++;
      else if (char === '}' || char === ']') depth--;
      i++;
      if (depth === 0) return i;
    }
    return text.length;
  }
  let i = at;
  while (i < text.length && !whitespace.has(text[i]!) && text[i] !== ',' && text[i] !== '}' && text[i] !== ']') i++;
  return i;
}

/** Every top-level member of the object `text` holds; [] when the text is not an object. */
export function topLevelMembers(text: string): JsonMember[] {
  let i = skipWhitespace(text, 0);
  if (text[i] !== '{') return [];
  i = skipWhitespace(text, i + 1);
  const members: JsonMember[] = [];
  while (text[i] === '"') {
    const keyStart = i;
    const keyEnd = stringEnd(text, i);
    const key = JSON.parse(text.slice(keyStart, keyEnd)) as string;
    const valueStart = skipWhitespace(text, skipWhitespace(text, keyEnd) + 1);
    const end = valueEnd(text, valueStart);
    members.push({ key, keyStart, valueStart, valueEnd: end });
    i = skipWhitespace(text, end);
    if (text[i] !== ',') break;
    i = skipWhitespace(text, i + 1);
  }
  return members;
}

/** The values of every top-level member named `name`, in document order. */
export function topLevelValues(text: string, name: string): unknown[] {
  return topLevelMembers(text)
    .filter((member) => member.key === name)
    .map((member) => JSON.parse(text.slice(member.valueStart, member.valueEnd)) as unknown);
}
