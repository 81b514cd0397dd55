/**
 * The spellings a secret can take on its way back to us: an API that echoes a password quotes it in JSON
 * (once, or twice when its message is itself a JSON string), URL-encodes it in a query it repeats, or
 * repeats the Basic header it received. Every one of them is scrubbed from what we write.
 */

/** Below this, scrubbing would redact ordinary words, so a secret this short cannot be kept out of the log and is refused. */
export const minimumSecretLength = 4;

const jsonEscaped = (text: string) => JSON.stringify(text).slice(1, -1);

/**
 * The base64 characters that depend on the secret's bytes alone, for each of the three places it can start
 * within a longer encoded value (user:secret in a Basic header): the groups that mix in neighbouring bytes
 * differ with what surrounds it and are left out.
 */
function base64Cores(secret: Buffer, alphabet: 'base64' | 'base64url'): string[] {
  const cores: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), secret]).toString(alphabet).replace(/=+$/, '');
    const start = offset === 0 ? 0 : 4;
    const whole = Math.floor((offset + secret.length) / 3) * 4;
    cores.push(encoded.slice(start, whole));
  }
  return cores;
}

/** Longest first, so that a whole encoded value is redacted before a part of it. */
export function secretForms(secret: string): string[] {
  const bytes = Buffer.from(secret);
  const forms = [
    secret,
    jsonEscaped(secret),
    jsonEscaped(jsonEscaped(secret)),
    jsonEscaped(secret).replaceAll('/', '\\/'),
    encodeURIComponent(secret),
    encodeURIComponent(secret).replaceAll('%20', '+'),
    bytes.toString('base64'),
    bytes.toString('base64url'),
    ...base64Cores(bytes, 'base64'),
    ...base64Cores(bytes, 'base64url'),
  ];
  return [...new Set(forms)].filter((form) => form.length >= minimumSecretLength).sort((a, b) => b.length - a.length);
}

/** text with every form of every secret replaced by [redacted]. */
export function scrubSecrets(text: string, forms: readonly string[]): string {
  let clean = text;
  for (const form of forms) clean = clean.split(form).join('[redacted]');
  return clean;
}
