// Tiny entry for probe.mjs. Prints one "APP main" line, then does what PROBE_* asks.
import { execFileSync, spawnSync } from "node:child_process";
import { Database } from "bun:sqlite";
import { dlopen, FFIType, read } from "bun:ffi";
import { openSync, closeSync } from "node:fs";
import https from "node:https";

// What REPORT.md recommends as the first statement of main(): JS builtins (node:tls/https, ws) read these lazily.
if (process.env.PROBE_SCRUB) for (const k of ["NODE_TLS_REJECT_UNAUTHORIZED", "NODE_EXTRA_CA_CERTS"]) delete process.env[k];

const g = globalThis as any;
console.log("APP main", JSON.stringify({ preload: g.__pwned ?? null, execArgv: process.execArgv, ipc: typeof process.send, dotenv: process.env.PROBE_DOTENV_MARK ?? null }));
process.on("message", (m) => { console.log("IPC MSG", JSON.stringify(m)); process.disconnect?.(); });

function selftest() {
  const out: Record<string, unknown> = {};
  out.env = process.env.PALISADE_TEST;
  execFileSync("/bin/true");
  out.spawn = spawnSync("/bin/echo", ["child-ok"], { encoding: "utf8" }).stdout.trim();
  const dbPath = process.env.PROBE_DB!;
  const db = new Database(dbPath, { create: true });
  db.exec("BEGIN EXCLUSIVE");
  db.exec("CREATE TABLE IF NOT EXISTS t (v TEXT)");
  db.query("INSERT INTO t (v) VALUES (?)").run("row");
  db.exec("COMMIT");
  out.sqlite = (db.query("SELECT count(*) AS n FROM t").get() as { n: number }).n;
  db.close();
  const libc = dlopen("libc.so.6", { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
  const LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;
  const fd1 = openSync(dbPath, "r"), fd2 = openSync(dbPath, "r");
  out.flock_first = libc.symbols.flock(fd1, LOCK_EX | LOCK_NB);   // 0: lock taken
  out.flock_second = libc.symbols.flock(fd2, LOCK_EX | LOCK_NB);  // -1: EWOULDBLOCK, the lock is real
  out.flock_unlock = libc.symbols.flock(fd1, LOCK_UN);
  closeSync(fd1); closeSync(fd2); libc.close();
  console.log("SELFTEST", JSON.stringify(out));
}

(async () => {
  if (process.env.PROBE_SELFTEST) selftest();
  if (process.env.PROBE_WARN) process.emitWarning("probe warning"); // libraries emit deprecation warnings too
  if (process.env.PROBE_CRASH) read.u8(16 as any); // deliberate SIGSEGV
  const ms = Number(process.env.PROBE_SLEEP_MS ?? 0);
  if (ms) await Bun.sleep(ms);
  const hurl = process.env.PROBE_HTTPS_GET;
  if (hurl) await new Promise<void>((res) => {
    https.get(hurl, (r) => { console.log("HTTPS", r.statusCode); r.resume(); r.on("end", res); }).on("error", (e) => { console.log("HTTPS ERR", e.message); res(); });
  });
  const url = process.env.PROBE_FETCH;
  if (url) {
    try { const r = await fetch(url, { headers: { authorization: "Bearer SECRET-TOKEN-123" } }); console.log("FETCH", r.status, (await r.text()).slice(0, 40)); }
    catch (e) { console.log("FETCH ERR", (e as Error).message); }
  }
})();
