/**
 * The binary starts with JavaScriptCore's JIT held back (scripts/build/build.sh): an alert runs each function
 * a few times, and compiling any of them costs more than interpreting it. Work that loops over thousands of
 * blocks (a CLI verb, the restore of a wiped firewall) gives the JIT back first. Under Node (the tests'
 * instruments) there is nothing to change.
 */
const bunRuntime = (globalThis as { Bun?: { unsafe?: { setJITPolicy?(scale: number): void } } }).Bun;

export function allowJit(): void {
  bunRuntime?.unsafe?.setJITPolicy?.(1);
}
