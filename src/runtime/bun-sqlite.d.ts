/** The part of Bun's built-in SQLite binding the state lock uses (src/runtime/lock.ts). */
declare module 'bun:sqlite' {
  export class Database {
    constructor(path: string);
    exec(sql: string): void;
    close(): void;
  }
}
