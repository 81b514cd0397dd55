#!/usr/bin/env node
// harden-bun-binary.mjs BINARY
//
// Post-compile patch for a `bun build --compile` executable (Bun 1.4.5, linux-x64).
// A compiled Bun binary still honours environment variables that inject code, an
// inspector, argv, TLS trust or file writes before our JS runs (see hardening.md beside this file).
// There is no build flag to turn them off, so we make each dangerous lookup
// impossible to satisfy:
//
//  * "cstr": a NUL-terminated name in .rodata. Bun passes it to libc getenv()
//    (bun_core::env_var's zstr!, C++ getenv) or, for the two keys process.env
//    gives native accessors, compares it by length+bytes with environ keys.
//    We overwrite the first byte with NUL: glibc getenv("") returns NULL, and
//    no environ key (a C string) can equal a name that starts with NUL.
//  * "packed": a name inside a run of Rust &str literals (pointer+length, no
//    terminator) used by the dotenv Loader, whose map is built from environ
//    split at the first '='. Same NUL first byte: an environ key can never
//    contain NUL, so the length-compared lookup can never match.
//  * "code": JSCInitialize() matches the BUN_JSC_ prefix with eight inline byte
//    compares (no string exists to rename). We turn the first `jne next-entry`
//    into `jmp next-entry`, so every environ entry is skipped and
//    JSC::Options::setOption() is never reached from the environment.
//
// Only the Bun runtime (ELF sections .rodata / .text) is searched, never the
// appended application payload. Every pattern carries surrounding bytes and
// must occur exactly once (patched or not); the NODE_OPTIONS parser of newer
// Bun sources must be absent; and the set of (BUN|NODE)_* names must be the
// 1.4.5 one. Any deviation (e.g. a Bun upgrade) exits 1 naming what differs,
// before anything is written, so an upgrade cannot silently leave a hole.
// The embedded JS builtins (process.env.X inside .bun_builtins) are NOT
// touched: with --bytecode they run from bytecode in the payload, not from
// that text, and each is either gated by a native lookup patched here or left
// to the application (hardening.md). Output depends only on input bytes
// (deterministic); a second run reports "already hardened" and exits 0.

import { readFileSync, writeFileSync, renameSync, statSync, chmodSync, openSync, fsyncSync, closeSync } from "node:fs";
import { createHash } from "node:crypto";

const Z = "\0";
const cstr = (name) => ({ name, kind: "cstr", section: ".rodata", before: Z, target: name, after: Z });
const packed = (name, before, after) => ({ name, kind: "packed", section: ".rodata", before, target: name, after });

const PATCHES = [
  // argv / CLI / code injection
  cstr("BUN_BE_BUN"),             // whole bun CLI instead of our entry point (-e, run, x ...)
  cstr("BUN_OPTIONS"),            // spliced into argv: --preload, --inspect, --require ...
  cstr("BUN_INSPECT"),            // listening inspector = remote code execution
  cstr("BUN_INSPECT_CONNECT_TO"), // inspector that dials out (unix:, tcp:, fd:)
  cstr("BUN_INSPECT_PRELOAD"),    // preload, read whenever Arguments::parse runs (BUN_OPTIONS, --compile-exec-argv)
  cstr("NODE_CHANNEL_FD"),        // attacker-supplied IPC channel -> process.on("message"), process.send
  // TLS trust
  cstr("NODE_TLS_REJECT_UNAUTHORIZED"),
  packed("NODE_TLS_REJECT_UNAUTHORIZED", "CMAKE_C_COMPILER_LAUNCHER", "BUN_CONFIG_NO_CLEAR_TERMINAL_ON_RELOAD"), // fetch() reads this one
  cstr("NODE_EXTRA_CA_CERTS"),    // adds a trusted CA
  cstr("SSL_CERT_FILE"),          // replaces the trusted CA bundle
  cstr("SSL_CERT_DIR"),           // replaces the trusted CA directory
  // data leaks / root file writes
  cstr("BUN_CONFIG_VERBOSE_FETCH"),
  packed("BUN_CONFIG_VERBOSE_FETCH", "pending task was enqueued", "[unknown]"), // fetch() logs headers (curl mode: unredacted Authorization)
  cstr("BUN_CRASH_REPORT_URL"),   // on crash, spawns `curl <url>/...` from PATH with the trace
  cstr("BUN_BYTECODE_DIGEST_OUT"),      // truncates + writes this path at exit
  cstr("BUN_BYTECODE_ORDER_OUT"),       // writes this path at exit
  cstr("BUN_BYTECODE_ORDER_NAMES_OUT"), // companion of the above
  cstr("NODE_REDIRECT_WARNINGS"), // appends every process warning to this path (creates it, follows symlinks)
  // BUN_JSC_<option>=<value>: JavaScriptCore options (jitDumpDirectory, samplingProfilerPath, ... write files; bad names exit(1))
  {
    name: "BUN_JSC_* prefix check in JSCInitialize", kind: "code", section: ".text",
    // cmpb $'B',(%r14); jne -0x1b; cmpb $'U',1(%r14); jne; ... cmpb $'_',7(%r14); jne
    bytes: hex("41803e4275e5 41807e015575de 41807e024e75d7 41807e035f75d0 41807e044a75c9 41807e055375c2 41807e064375bb 41807e075f75b4"),
    at: 4, from: 0x75, to: 0xeb, // first jne -> jmp (same target: next environ entry)
  },
];

// If Bun ever starts parsing NODE_OPTIONS (newer sources have node_options.rs), refuse:
// its --require/--import would be a new injection path this script does not cover.
const MUST_BE_ABSENT = [
  { what: "NODE_OPTIONS lookup (\\0NODE_OPTIONS\\0)", bytes: Buffer.from(Z + "NODE_OPTIONS" + Z, "latin1"), section: ".rodata" },
  { what: "NODE_OPTIONS parser message", bytes: Buffer.from("is not allowed in NODE_OPTIONS", "latin1"), section: ".rodata" },
];

// Tripwire for new variables: SHA-256 of the sorted, space-joined set of NUL-delimited (BUN|NODE)_* names in
// .rodata of Bun 1.4.5 (110 names, listed in hardening.md). Those are the names bun_core::env_var / getenv() can
// look up. If a Bun upgrade adds one, refuse until someone has decided whether it needs a patch here.
const INVENTORY_SHA256 = "080c9da2fcac2d4ccd3775d057da82ce80d55e15900ed2b76549bf56856a4811";

function hex(s) { return Buffer.from(s.replace(/\s+/g, ""), "hex"); }
function die(msg) { console.error(`harden-bun-binary: ${msg}`); process.exit(1); }

function sections(buf) {
  // Minimal ELF64 little-endian x86-64 section table reader.
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) die("not an ELF file");
  if (buf[4] !== 2 || buf[5] !== 1) die("not ELF64 little-endian");
  if (buf.readUInt16LE(18) !== 62) die("not x86-64 (patterns are for linux-x64 only)");
  const shoff = Number(buf.readBigUInt64LE(40)), shentsize = buf.readUInt16LE(58);
  const shnum = buf.readUInt16LE(60), shstrndx = buf.readUInt16LE(62);
  const hdr = (i) => shoff + i * shentsize;
  const strOff = Number(buf.readBigUInt64LE(hdr(shstrndx) + 24));
  const out = {};
  for (let i = 0; i < shnum; i++) {
    const h = hdr(i), nameOff = buf.readUInt32LE(h);
    const name = buf.toString("latin1", strOff + nameOff, buf.indexOf(0, strOff + nameOff));
    out[name] = { start: Number(buf.readBigUInt64LE(h + 24)), size: Number(buf.readBigUInt64LE(h + 32)) };
  }
  for (const s of [".rodata", ".text"]) if (!out[s]) die(`section ${s} not found`);
  return out;
}

function findAll(buf, needle, { start, size }) {
  const hits = [], end = start + size;
  for (let i = buf.indexOf(needle, start); i !== -1 && i + needle.length <= end; i = buf.indexOf(needle, i + 1)) hits.push(i);
  return hits;
}

function forms(p) {
  if (p.kind === "code") {
    if (p.bytes[p.at] !== p.from) throw new Error(`bad table entry ${p.name}`);
    const patched = Buffer.from(p.bytes); patched[p.at] = p.to;
    return { orig: p.bytes, patched, at: p.at };
  }
  // Name with its context; the patched form has the name's first byte replaced by NUL.
  const orig = Buffer.from(p.before + p.target + p.after, "latin1");
  const at = Buffer.byteLength(p.before, "latin1");
  const patched = Buffer.from(orig); patched[at] = 0;
  return { orig, patched, at };
}

const file = process.argv[2];
if (!file || process.argv.length > 3) die("usage: node harden-bun-binary.mjs BINARY");
const buf = readFileSync(file);
const secs = sections(buf);

for (const a of MUST_BE_ABSENT) {
  if (findAll(buf, a.bytes, secs[a.section]).length) die(`found ${a.what}: this Bun version reads NODE_OPTIONS; review before hardening`);
}

// Locate every patch site first; change nothing unless all of them are exactly where expected.
const todo = [], errors = [];
let already = 0;
for (const p of PATCHES) {
  const { orig, patched, at } = forms(p);
  const o = findAll(buf, orig, secs[p.section]), d = findAll(buf, patched, secs[p.section]);
  const label = `${p.name} [${p.kind}]`;
  if (o.length === 1 && d.length === 0) todo.push({ label, off: o[0] + at, byte: patched[at] });
  else if (o.length === 0 && d.length === 1) already++;
  else errors.push(`${label}: expected exactly 1 occurrence, found ${o.length} unpatched and ${d.length} patched`);
}
if (errors.length) die(`refusing to patch ${file} (unexpected layout; is this Bun 1.4.5 linux-x64?):\n  ${errors.join("\n  ")}`);

// Inventory of env-like names; names this script blanks are counted under their original spelling.
const ro = secs[".rodata"], names = new Set();
for (const m of buf.toString("latin1", ro.start, ro.start + ro.size).matchAll(/(?<=\0)(?:BUN|NODE)_[A-Za-z0-9_]+(?=\0)/g)) names.add(m[0]);
for (const p of PATCHES) if (p.kind === "cstr" && /^(BUN|NODE)_/.test(p.name)) names.add(p.name);
const inventory = [...names].sort().join(" ");
if (createHash("sha256").update(inventory).digest("hex") !== INVENTORY_SHA256)
  die(`the set of (BUN|NODE)_* names in .rodata differs from Bun 1.4.5 (new or removed environment variables?); review against hardening.md before hardening. Found ${names.size}:\n  ${inventory}`);

for (const t of todo) {
  buf[t.off] = t.byte;
  console.log(`patched  ${t.label} at file offset 0x${t.off.toString(16)}`);
}
const applied = todo.length;
if (applied === 0) {
  console.log(`${file}: already hardened (${already}/${PATCHES.length} patches present)`);
  process.exit(0);
}

// Write next to the target and rename over it, keeping the mode, so a crash mid-write never leaves a half-patched binary.
const tmp = `${file}.harden-tmp`;
const mode = statSync(file).mode & 0o7777;
writeFileSync(tmp, buf, { mode });
chmodSync(tmp, mode);
const fd = openSync(tmp, "r"); fsyncSync(fd); closeSync(fd);
renameSync(tmp, file);
console.log(`${file}: hardened (${applied} applied, ${already} already present)`);
