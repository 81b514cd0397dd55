/**
 * A lookup in a name table that only sees the table's own entries: a name from outside (an alert's
 * command, an <extra_args> word, a link's name) such as "constructor", "toString" or "__proto__" must not
 * find what every object inherits.
 */
export function ownEntry<T>(table: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}
