/** The clock in whole seconds, the unit of every expiry Palisade stores and every kernel timeout it sets. */
export const nowSeconds = () => Math.floor(Date.now() / 1000);

const unitSeconds: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** "90", "90s", "15m", "12h", "7d", "2w" -> seconds; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,9})([smhdw]?)$/.exec(text.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * (unitSeconds[match[2] || 's'] ?? 1);
  return seconds > 0 ? seconds : undefined;
}

/** 604800 -> "7d", 5400 -> "1h30m": for log lines and the CLI. */
export function formatDuration(seconds: number): string {
  if (seconds <= 0) return '0s';
  const parts: string[] = [];
  let rest = Math.round(seconds);
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}
