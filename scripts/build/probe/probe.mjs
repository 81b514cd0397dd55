#!/usr/bin/env node
// probe.mjs [BUN]  — builds probe-entry.ts with Bun, hardens a copy with harden-bun-binary.mjs,
// then runs each environment attack against the binary BEFORE and AFTER the patch (one line per
// variable) and checks that the patched binary still works. Exit 0 iff every line is as expected.
// Dependency-free Node ESM (Node 20+). Everything happens in a fresh temp dir; nothing is installed.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, existsSync, copyFileSync, mkdirSync, readdirSync, chmodSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import http from "node:http";
import https from "node:https";

const HERE = dirname(fileURLToPath(import.meta.url));
const BUN_SRC = process.argv[2] ?? join(HERE, "../../../node_modules/@oven/bun-linux-x64-baseline/bin/bun"); // the pinned runtime
const W = mkdtempSync(join(tmpdir(), "bun-harden-probe-"));
const BUN = join(W, "bun");
copyFileSync(BUN_SRC, BUN); chmodSync(BUN, 0o755); // never run or modify the original

// Throw-away self-signed test certificate (CN=localhost, SAN 127.0.0.1, CA:TRUE, valid to 2126).
const CERT = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUdRqLwIP9/NtiMQfI8LLQ6dqWSG4wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwNjA0Mzg1NloYDzIxMjYxMTEy
MDQzODU2WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAT1aVT9n0Xr6YRiJ9SXWDHFbyJ3yveZ/lAtlTRGy//ddYK8j6rJ1ZoN
Y8Uk3y9PeT2SVXuSMsUHNGPIPJYP8KIUo28wbTAdBgNVHQ4EFgQUYIY58wtbRFE8
s9UCuWWpiCt7r+owHwYDVR0jBBgwFoAUYIY58wtbRFE8s9UCuWWpiCt7r+owGgYD
VR0RBBMwEYIJbG9jYWxob3N0hwR/AAABMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZI
zj0EAwIDSAAwRQIhAIZQmwkz/MaStjQKCFia791PSnUkwpYjdC4b935J1mDbAiA7
OXxlFs/OzW5ArGVvAkRhNu+6j/FtkYUgzqsvywDrSA==
-----END CERTIFICATE-----
`;
const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8wFamcUJ2coil+Zs
JjRAebVd6WHA4AsfGy57NnqLb9OhRANCAAT1aVT9n0Xr6YRiJ9SXWDHFbyJ3yveZ
/lAtlTRGy//ddYK8j6rJ1ZoNY8Uk3y9PeT2SVXuSMsUHNGPIPJYP8KIU
-----END PRIVATE KEY-----
`;
const certFile = join(W, "cert.pem"); writeFileSync(certFile, CERT);
const certDir = join(W, "certdir"); mkdirSync(certDir); writeFileSync(join(certDir, "ce275665.0"), CERT); // OpenSSL subject-hash name
const mark = (n) => join(W, `MARK_${n}`);
const pre = join(W, "pre.js");
writeFileSync(pre, `require("fs").writeFileSync(process.env.PROBE_MARK, "preload ran"); globalThis.__pwned = "preload";\n`);
const fakebin = join(W, "fakebin"); mkdirSync(fakebin);
writeFileSync(join(fakebin, "curl"), `#!/bin/sh\necho "$*" >> "${mark("curl")}"\n`); chmodSync(join(fakebin, "curl"), 0o755);

// ---------------------------------------------------------------- build + harden
const FLAGS = ["--compile", "--bytecode", "--minify", "--format=cjs", "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig", "--no-compile-autoload-tsconfig", "--no-compile-autoload-package-json"];
const entry = join(W, "entry.ts"); copyFileSync(join(HERE, "probe-entry.ts"), entry);
const build = (out, flags) => { execFileSync(BUN, ["build", ...flags, entry, "--outfile", out], { cwd: W, stdio: "ignore" }); return out; };
const harden = (bin) => { try { return { code: 0, out: execFileSync(process.execPath, [join(HERE, "..", "harden-bun-binary.mjs"), bin], { encoding: "utf8", stdio: "pipe" }) }; } catch (e) { return { code: e.status, out: `${e.stdout}${e.stderr}` }; } };

console.log(`work dir ${W}\nbun ${execFileSync(BUN, ["--revision"], { encoding: "utf8" }).trim()}, node ${process.version}\n`);
const before = build(join(W, "before"), FLAGS);
const beforeXA = build(join(W, "before-exec-argv"), [...FLAGS, "--compile-exec-argv=--smol"]);
const beforePlain = build(join(W, "before-plain"), ["--compile"]); // no --bytecode/--minify/--format=cjs
const defaultAutoload = build(join(W, "default-autoload"), ["--compile", "--bytecode", "--minify", "--format=cjs"]);
const mkAfter = (b) => { const a = b.replace(/before/, "after"); copyFileSync(b, a); return a; };
const after = mkAfter(before), afterXA = mkAfter(beforeXA), afterPlain = mkAfter(beforePlain);

let failures = 0;
const line = (name, ok, msg) => { if (!ok) failures++; console.log(`${ok ? "ok  " : "FAIL"} ${name.padEnd(34)} ${msg}`); };

console.log("== patcher");
const h1 = harden(after);
line("harden (first run)", h1.code === 0 && /hardened \(19 applied/.test(h1.out), h1.out.trim().split("\n").pop());
const h2 = harden(after);
line("harden (second run: idempotent)", h2.code === 0 && /already hardened/.test(h2.out), h2.out.trim());
const again = join(W, "after-again"); copyFileSync(before, again); harden(again);
line("deterministic output", readFileSync(again).equals(readFileSync(after)), "two runs on the same input give identical bytes");
for (const b of [afterXA, afterPlain]) { const r = harden(b); line(`harden ${b.split("/").pop()}`, r.code === 0, r.out.trim().split("\n").pop()); }
const altered = join(W, "altered"); { const buf = readFileSync(before); const i = buf.indexOf("\0BUN_BE_BUN\0"); buf[i + 10] = 0x58; writeFileSync(altered, buf); }
const h3 = harden(altered);
line("refuses a changed layout", h3.code === 1 && /BUN_BE_BUN \[cstr\]: expected exactly 1/.test(h3.out), `exit ${h3.code}: ${h3.out.split("\n").find((l) => l.includes("BUN_BE_BUN")).trim()}`);
const newVar = join(W, "new-var"); { const buf = readFileSync(before); const i = buf.indexOf("\0BUN_TRACE\0"); buf.write("BUN_TRICK", i + 1, "latin1"); writeFileSync(newVar, buf); }
const h5 = harden(newVar);
line("refuses a new (BUN|NODE)_ name", h5.code === 1 && /set of \(BUN\|NODE\)_\* names/.test(h5.out) && readFileSync(newVar).indexOf("\0BUN_BE_BUN\0") > 0, `exit ${h5.code}, file left untouched`);
const h4 = harden(join(W, "cert.pem"));
line("refuses a non-ELF file", h4.code === 1, `exit ${h4.code}: ${h4.out.trim()}`);

// ---------------------------------------------------------------- helpers
function run(bin, { env = {}, args = [], cwd = W, stdio, onSpawn, timeout = 15000 } = {}) {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { cwd, env: { PATH: process.env.PATH, HOME: W, PROBE_MARK: mark("preload"), ...env }, stdio: stdio ?? ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d)); child.stderr.on("data", (d) => (out += d));
    const t = setTimeout(() => child.kill("SIGKILL"), timeout);
    onSpawn?.(child);
    child.on("exit", (code, signal) => { clearTimeout(t); resolve({ code, signal, out }); });
  });
}
const freePort = () => new Promise((r) => { const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
const tryConnect = (port) => new Promise((r) => { const c = net.connect(port, "127.0.0.1"); c.on("connect", () => { c.destroy(); r(true); }); c.on("error", () => r(false)); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const clear = () => { for (const f of readdirSync(W)) if (f.startsWith("MARK_")) rmSync(join(W, f), { force: true, recursive: true }); };
const appRan = (r) => r.out.includes("APP main");
const frame = (o) => { const b = Buffer.from(JSON.stringify(o)); const h = Buffer.alloc(4); h.writeUInt32BE(b.length); return Buffer.concat([h, b]); };

const tlsServer = https.createServer({ cert: CERT, key: KEY }, (q, s) => s.end("hello-tls")).listen(0, "127.0.0.1");
const httpServer = http.createServer((q, s) => s.end("hello-http")).listen(0, "127.0.0.1");
await sleep(100);
const TLS_URL = `https://127.0.0.1:${tlsServer.address().port}/`, HTTP_URL = `http://127.0.0.1:${httpServer.address().port}/`;

// Each attack returns { hit: boolean, why: string } for one binary.
const ATTACKS = [
  ["BUN_BE_BUN", async (bin) => {
    const r = await run(bin, { env: { BUN_BE_BUN: "1" }, args: ["-e", `require("fs").writeFileSync(${JSON.stringify(mark("bebun"))}, "uid=" + process.getuid())`] });
    return existsSync(mark("bebun")) ? { hit: true, why: "-e code ran (marker written)" } : { hit: false, why: `marker absent, ${appRan(r) ? "program's own output present" : "NO program output"}`, bad: !appRan(r) };
  }],
  ["BUN_OPTIONS (--preload)", async (bin) => {
    await run(bin, { env: { BUN_OPTIONS: `--preload ${pre}` } });
    return { hit: existsSync(mark("preload")), why: existsSync(mark("preload")) ? "preload ran" : "no preload" };
  }],
  ["BUN_INSPECT (listen)", async (bin) => {
    const port = await freePort();
    const p = run(bin, { env: { BUN_INSPECT: `127.0.0.1:${port}`, PROBE_SLEEP_MS: "2000" } });
    await sleep(900); const up = await tryConnect(port); await p;
    return { hit: up, why: up ? `inspector accepted a TCP connection on 127.0.0.1:${port}` : `nothing listening on ${port}` };
  }],
  ["BUN_INSPECT_CONNECT_TO (dial out)", async (bin) => {
    const sock = join(W, "MARK_sock"); let connected = false;
    const srv = net.createServer((c) => { connected = true; c.on("error", () => {}); c.write(frame({ id: 1, method: "Runtime.evaluate", params: { expression: `Bun.write(${JSON.stringify(mark("inspect"))}, "uid=" + process.getuid())` } })); }).listen(sock);
    await run(bin, { env: { BUN_INSPECT_CONNECT_TO: `unix://${sock}`, PROBE_SLEEP_MS: "1500" } }); srv.close();
    return { hit: existsSync(mark("inspect")), why: existsSync(mark("inspect")) ? `dialed out; Runtime.evaluate wrote ${readFileSync(mark("inspect"), "utf8")}` : connected ? "connected but no code ran" : "no connection" };
  }],
  ["BUN_INSPECT_NOTIFY (+BUN_INSPECT)", async (bin) => {
    const sock = join(W, "MARK_notify"); let n = false;
    const srv = net.createServer((c) => { n = true; c.on("error", () => {}); }).listen(sock);
    await run(bin, { env: { BUN_INSPECT: `127.0.0.1:${await freePort()}`, BUN_INSPECT_NOTIFY: `unix://${sock}`, PROBE_SLEEP_MS: "800" } }); srv.close();
    return { hit: n, why: n ? "notify connection received" : "no notify connection (needs a running inspector)" };
  }],
  ["NODE_CHANNEL_FD (IPC channel)", async (bin) => {
    const r = await run(bin, { env: { PROBE_SLEEP_MS: "800" }, stdio: ["ignore", "pipe", "pipe", "ipc"], onSpawn: (c) => { c.on("error", () => {}); c.send({ injected: "from parent" }, () => {}); } });
    return { hit: r.out.includes("IPC MSG"), why: r.out.includes("IPC MSG") ? `process.on("message") got the injected message` : `no IPC (${/"ipc":"(\w+)"/.exec(r.out)?.[1] ?? "?"} process.send)` };
  }],
  ["NODE_TLS_REJECT_UNAUTHORIZED=0", async (bin) => {
    const r = await run(bin, { env: { NODE_TLS_REJECT_UNAUTHORIZED: "0", PROBE_FETCH: TLS_URL } });
    return { hit: r.out.includes("FETCH 200"), why: (r.out.match(/FETCH.*/) ?? ["?"])[0] };
  }],
  ["NODE_EXTRA_CA_CERTS", async (bin) => {
    const r = await run(bin, { env: { NODE_EXTRA_CA_CERTS: certFile, PROBE_FETCH: TLS_URL } });
    return { hit: r.out.includes("FETCH 200"), why: (r.out.match(/FETCH.*/) ?? ["?"])[0] };
  }],
  ["SSL_CERT_FILE", async (bin) => {
    const r = await run(bin, { env: { SSL_CERT_FILE: certFile, PROBE_FETCH: TLS_URL } });
    return { hit: r.out.includes("FETCH 200"), why: (r.out.match(/FETCH.*/) ?? ["?"])[0] };
  }],
  ["SSL_CERT_DIR", async (bin) => {
    const r = await run(bin, { env: { SSL_CERT_DIR: certDir, PROBE_FETCH: TLS_URL } });
    return { hit: r.out.includes("FETCH 200"), why: (r.out.match(/FETCH.*/) ?? ["?"])[0] };
  }],
  ["BUN_CONFIG_VERBOSE_FETCH=curl", async (bin) => {
    const r = await run(bin, { env: { BUN_CONFIG_VERBOSE_FETCH: "curl", PROBE_FETCH: HTTP_URL } });
    return { hit: r.out.includes("SECRET-TOKEN-123"), why: r.out.includes("SECRET-TOKEN-123") ? "Authorization header printed in clear" : "no request logging" };
  }],
  ["BUN_CRASH_REPORT_URL (on crash)", async (bin) => {
    // The crash handler spawns curl (found through PATH) after the crash; give it time, and tag the URL per run.
    const url = `http://127.0.0.1:9/probe-${bin.split("/").pop()}`;
    await run(bin, { env: { BUN_CRASH_REPORT_URL: url, PROBE_CRASH: "1", PATH: `${fakebin}:${process.env.PATH}` } });
    for (let i = 0; i < 30 && !existsSync(mark("curl")); i++) await sleep(100);
    const got = existsSync(mark("curl")) ? readFileSync(mark("curl"), "utf8").trim() : "";
    return { hit: got.includes(url), why: got ? `spawned "curl ${got.slice(0, 60)}..."` : "no curl spawned" };
  }],
  ["BUN_BYTECODE_{DIGEST,ORDER}_OUT", async (bin) => {
    const victim = mark("victim"); writeFileSync(victim, "ORIGINAL\n");
    await run(bin, { env: { BUN_BYTECODE_DIGEST_OUT: victim, BUN_BYTECODE_ORDER_OUT: mark("order"), BUN_BYTECODE_ORDER_NAMES_OUT: mark("names") } });
    const clobbered = readFileSync(victim, "utf8") !== "ORIGINAL\n";
    return { hit: clobbered || existsSync(mark("order")), why: clobbered ? "existing file overwritten by digest; order file written" : "no file written" };
  }],
  ["NODE_REDIRECT_WARNINGS", async (bin) => {
    await run(bin, { env: { NODE_REDIRECT_WARNINGS: mark("warnings"), PROBE_WARN: "1" } });
    return { hit: existsSync(mark("warnings")), why: existsSync(mark("warnings")) ? `created ${mark("warnings").split("/").pop()}: ${readFileSync(mark("warnings"), "utf8").split("\n")[0].slice(0, 40)}` : "warning went to stderr, no file" };
  }],
  ["BUN_JSC_* (jitDumpDirectory)", async (bin) => {
    const d = mark("jitdump"); mkdirSync(d);
    await run(bin, { env: { BUN_JSC_useJITDump: "1", BUN_JSC_jitDumpDirectory: d } });
    const f = readdirSync(d);
    return { hit: f.length > 0, why: f.length ? `wrote ${f[0]}` : "no file written" };
  }],
  ["BUN_JSC_* (unknown option)", async (bin) => {
    const r = await run(bin, { env: { BUN_JSC_noSuchOption: "1" } });
    return { hit: r.code === 1 && !appRan(r), why: appRan(r) ? "ignored, program ran" : `exit ${r.code} before the program ran` };
  }],
];
// Variables that must be inert even before the patch (documented in REPORT.md).
const INERT = [
  ["BUN_INSPECT_PRELOAD (alone)", async (bin) => { await run(bin, { env: { BUN_INSPECT_PRELOAD: pre } }); return { hit: existsSync(mark("preload")), why: existsSync(mark("preload")) ? "preload ran" : "no preload (Arguments::parse not run)" }; }],
  ["BUN_INSPECT_NOTIFY (alone)", async (bin) => {
    const sock = join(W, "MARK_notify2"); let n = false; const srv = net.createServer(() => (n = true)).listen(sock);
    await run(bin, { env: { BUN_INSPECT_NOTIFY: `unix://${sock}`, PROBE_SLEEP_MS: "500" } }); srv.close(); return { hit: n, why: n ? "notify sent" : "no connection" };
  }],
  ["NODE_OPTIONS (--require)", async (bin) => { await run(bin, { env: { NODE_OPTIONS: `--require ${pre}` } }); return { hit: existsSync(mark("preload")), why: existsSync(mark("preload")) ? "preload ran" : "ignored" }; }],
  ["JSC_* (JSC's own prefix)", async (bin) => {
    const d = mark("jscdump"); mkdirSync(d); await run(bin, { env: { JSC_useJITDump: "1", JSC_jitDumpDirectory: d } });
    return { hit: readdirSync(d).length > 0, why: readdirSync(d).length ? "file written" : "ignored" };
  }],
  ["bunfig.toml/.env in cwd", async (bin) => {
    const cwd = mark("cwd"); mkdirSync(cwd);
    writeFileSync(join(cwd, "bunfig.toml"), `preload = [${JSON.stringify(pre)}]\n`); writeFileSync(join(cwd, ".env"), "PROBE_DOTENV_MARK=loaded\n");
    const r = await run(bin, { cwd });
    const hit = existsSync(mark("preload")) || r.out.includes(`"dotenv":"loaded"`);
    return { hit, why: hit ? "bunfig preload / .env applied" : "bunfig and .env ignored" };
  }],
];

async function both(name, fn, b, a, expectBefore) {
  clear(); const rb = await fn(b); clear(); const ra = await fn(a); clear();
  const ok = rb.hit === expectBefore && !ra.hit && !ra.bad;
  line(name, ok, `before: ${rb.hit ? "EFFECTIVE" : "inert"} (${rb.why})  |  after: ${ra.hit ? "EFFECTIVE" : expectBefore ? "refused" : "inert"} (${ra.why})`);
}

console.log(`\n== attacks, build: bun build ${FLAGS.join(" ")}`);
for (const [n, f] of ATTACKS) await both(n, f, before, after, true);
for (const [n, f] of INERT) await both(n, f, before, after, false);
await both("BUN_INSPECT_PRELOAD (exec-argv build)", INERT[0][1], beforeXA, afterXA, true);
clear(); { const r = await INERT[4][1](defaultAutoload); line("bunfig/.env, build WITHOUT --no-compile-autoload-*", r.hit, `${r.hit ? "EFFECTIVE" : "inert"} (${r.why}) -> the flags are needed`); }

// Not neutralised by the patch: node:tls/node:https read process.env.NODE_TLS_REJECT_UNAUTHORIZED in JS (from
// bytecode in the payload). Expected: still effective after the patch, and refused once main() deletes the key.
{
  const get = (bin, env) => run(bin, { env: { NODE_TLS_REJECT_UNAUTHORIZED: "0", PROBE_HTTPS_GET: TLS_URL, ...env } }).then((r) => (r.out.match(/^HTTPS .*$/m) ?? ["?"])[0]);
  const [b, a, s] = [await get(before, {}), await get(after, {}), await get(after, { PROBE_SCRUB: "1" })];
  line("NODE_TLS_REJECT_UNAUTHORIZED, node:https", b === "HTTPS 200" && a === "HTTPS 200", `before: ${b}  |  after: ${a} (JS reads process.env: NOT neutralised by the patch)`);
  line("  ... with delete in main()", s.startsWith("HTTPS ERR"), `after + delete process.env.NODE_TLS_REJECT_UNAUTHORIZED: ${s}`);
}

console.log("\n== attacks, build: bun build --compile (no --bytecode/--minify/--format=cjs)");
for (const [n, f] of ATTACKS.filter(([n]) => /^(BUN_BE_BUN|BUN_OPTIONS|BUN_INSPECT \(|BUN_INSPECT_CONNECT_TO|NODE_CHANNEL_FD|NODE_TLS)/.test(n))) await both(n, f, beforePlain, afterPlain, true);

console.log("\n== patched binary still works");
for (const [label, bin] of [["before", before], ["after", after]]) {
  const db = join(W, `state-${label}.db`);
  const r = await run(bin, { env: { PALISADE_TEST: "xyz", PROBE_SELFTEST: "1", PROBE_DB: db, BUN_TCC_OPTIONS: "-include /nonexistent.h" } });
  const s = JSON.parse((r.out.match(/SELFTEST (.*)/) ?? [, "{}"])[1]);
  const ok = appRan(r) && r.code === 0 && s.env === "xyz" && s.spawn === "child-ok" && s.sqlite === 1 && s.flock_first === 0 && s.flock_second === -1 && s.flock_unlock === 0;
  line(`selftest ${label}`, ok, `console ok, ${JSON.stringify(s)}`);
}

tlsServer.close(); httpServer.close();
// The work dir holds ~7 copies of a 110 MB binary: keep it only on failure or with PROBE_KEEP=1.
if (!failures && !process.env.PROBE_KEEP) rmSync(W, { recursive: true, force: true });
console.log(`\n${failures ? `${failures} FAILED (work dir kept: ${W})` : "all as expected"}`);
process.exit(failures ? 1 : 0);
