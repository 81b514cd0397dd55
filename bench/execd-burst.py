#!/usr/bin/env python3
"""What an alert storm costs through Wazuh's own wazuh-execd (4.14.7, ../shared/wazuh-execd): a serial burst
of 200 distinct attackers sent as wazuh-agentd sends them, timed from the first request until the last
block is in place, for Wazuh's own C firewall-drop (iptables), a bash + jq + nft script in the integration
guide's style (bench/seed-drop.sh) and palisade-drop on nftables. execd runs one AR at a time and waits for
each, so this time is execd's whole throughput during a storm.

  bench/execd-burst.py [--rounds N] [--alerts N] [--program NAME=PATH ...]    (root; writes bench/RESULTS.md)

Each program runs under its own execd in a network namespace of its own, made afresh each round, and the
programs alternate within a round, so that the machine's load moves them alike. "The last block in place" is
the log line the AR writes after its firewall change for the last alert, then the namespace's ruleset is
read once and must hold every address. SIGTERM then makes execd run every pending delete (its shutdown
handler), which is timed too, and the ruleset must then hold none.
"""
import argparse
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(REPO, "..", "shared"))
DRIVER_DIR = os.path.join(SHARED, "wazuh-execd")
FIREWALL_DROP = os.path.join(SHARED, "wazuh-ar", "bin", "firewall-drop")
RESULTS = os.path.join(REPO, "bench", "RESULTS.md")
HEADING = "## Through the real execd: a serial burst of distinct attackers"
TIMEOUT = 600   # the AR's <timeout>: no timed delete falls inside a round


class Program:
    """An AR under test: how execd names it, how to install it, and how to see its work."""

    def __init__(self, name, path, ended, ruleset, setup=None, config=None, executable=None):
        self.name = name
        self.executable = executable or name  # a Palisade build must be installed under a command's name
        self.path = path
        self.ended = re.compile(ended, re.M)   # one match per finished add in active-responses.log
        self.ruleset = ruleset                 # argv printing the namespace's firewall
        self.setup = setup or []               # argv lists run in the namespace before execd starts
        self.config = config                   # etc/palisade.yml, for a Palisade binary


def programs(extra):
    nft_ruleset = ["nft", "list", "ruleset"]
    found = [
        Program("firewall-drop", FIREWALL_DROP, r": Ended$", ["iptables-save"]),
        Program("seed-drop", os.path.join(REPO, "bench", "seed-drop.sh"), r"\[seed-drop\] Blocked IP", nft_ruleset, setup=[
            ["nft", "add", "table", "inet", "seed"],
            ["nft", "add", "set", "inet", "seed", "blocked", "{ type ipv4_addr; }"],
            ["nft", "add", "chain", "inet", "seed", "input", "{ type filter hook input priority 0; }"],
            ["nft", "add", "rule", "inet", "seed", "input", "ip", "saddr", "@blocked", "drop"],
        ]),
        Program("palisade-drop", os.path.join(REPO, "dist", "palisade"), r": Ended$", nft_ruleset, config="backend: nftables\n"),
    ]
    for spec in extra:
        name, _, path = spec.partition("=")
        found.append(Program(name, os.path.abspath(path), r": Ended$", nft_ruleset, config="backend: nftables\n", executable="palisade-drop"))
    return found


def addresses(count):
    # Documentation ranges only, and only ever inside the throwaway namespaces.
    pool = ["198.51.100.%d" % i for i in range(1, 255)] + ["203.0.113.%d" % i for i in range(1, 255)]
    if count > len(pool):
        raise SystemExit("execd-burst: at most %d alerts" % len(pool))
    return pool[:count]


def in_ns(ns, argv):
    return subprocess.run(["ip", "netns", "exec", ns] + argv, check=True, capture_output=True, text=True, timeout=60).stdout


def blocked(ns, program, wanted):
    text = in_ns(ns, program.ruleset)
    return len(set(re.findall(r"(?:198\.51\.100|203\.0\.113)\.\d+", text)) & set(wanted))


def one_burst(drive, program, wanted):
    """Returns (burst seconds, shutdown-delete seconds, addresses left blocked) for one program."""
    scratch = tempfile.mkdtemp(prefix="palisade-burst.", dir="/tmp")
    home = os.path.join(scratch, "ossec")
    ns = "pburst-%d-%s" % (os.getpid(), program.name[:6])
    executable = program.executable
    try:
        drive.init_home(home, install=[], ar_entries=[(program.name, executable, TIMEOUT)], debug=0)
        target = os.path.join(home, "active-response", "bin", executable)
        shutil.copyfile(program.path, target)
        os.chmod(target, 0o750)
        if program.config is not None:
            os.makedirs(os.path.join(home, "var", "palisade"), exist_ok=True)
            with open(os.path.join(home, "etc", "palisade.yml"), "w") as f:
                f.write(program.config)
        drive.netns_create(ns)
        for argv in program.setup:
            in_ns(ns, argv)
        log_path = os.path.join(home, "logs", "active-responses.log")
        execd = drive.Execd(home, netns=ns, debug=0)
        execd.start()
        try:
            offset = os.path.getsize(log_path) if os.path.exists(log_path) else 0
            started = time.monotonic()
            for address in wanted:
                execd.send("%s%d" % (program.name, TIMEOUT), srcip=address)
            deadline = started + 300
            while True:
                with open(log_path, "rb") if os.path.exists(log_path) else open(os.devnull, "rb") as f:
                    f.seek(offset)
                    done = len(program.ended.findall(f.read().decode("utf-8", "replace")))
                if done >= len(wanted):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit("execd-burst: %s finished %d of %d adds in 300 s" % (program.name, done, len(wanted)))
                time.sleep(0.005)
            burst = time.monotonic() - started
            held = blocked(ns, program, wanted)
            if held != len(wanted):
                raise SystemExit("execd-burst: %s logged %d adds but the firewall holds %d of the addresses" % (program.name, len(wanted), held))
        finally:
            stopping = time.monotonic()
            execd.stop(timeout=300)
            shutdown = time.monotonic() - stopping
        # A script that sends no check_keys gets one timeout entry for all its alerts (execd keys them by
        # the program's name alone), so its shutdown lifts one block and leaves the rest: shown, not hidden.
        left = blocked(ns, program, wanted)
        if left != 0 and program.config is not None:
            raise SystemExit("execd-burst: after execd's shutdown deletes, %s left %d addresses blocked" % (program.name, left))
        return burst, shutdown, left
    finally:
        drive.netns_delete(ns)
        shutil.rmtree(scratch, ignore_errors=True)


def version_of(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def write_results(section):
    previous = open(RESULTS).read() if os.path.exists(RESULTS) else "# Benchmark results\n\n"
    start = previous.find(HEADING)
    if start < 0:
        text = previous.rstrip() + "\n\n" + section
    else:
        following = previous.find("\n## ", start + len(HEADING))
        text = previous[:start] + section + ("" if following < 0 else "\n" + previous[following + 1:])
    with open(RESULTS, "w") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--program", action="append", default=[], help="NAME=PATH: another Palisade build, installed as palisade-drop under the ar.conf command NAME")
    args = parser.parse_args()
    if not os.path.exists(os.path.join(DRIVER_DIR, "drive.py")):
        print("execd-burst: skipped: %s is not here (the real wazuh-execd and its driver)" % DRIVER_DIR)
        return 0
    if os.geteuid() != 0:
        raise SystemExit("execd-burst: run as root (execd, namespaces and firewalls need it)")
    for tool in ("jq", "nft", "iptables-save", "ip"):
        if shutil.which(tool) is None:
            raise SystemExit("execd-burst: %s is missing: make setup installs it" % tool)
    sys.path.insert(0, DRIVER_DIR)
    import drive
    drive.log = lambda message: None   # the driver narrates every step; the table is what counts here

    chosen = programs(args.program)
    for program in chosen:
        if not os.path.exists(program.path):
            raise SystemExit("execd-burst: %s is missing (%s)" % (program.path, program.name))
    wanted = addresses(args.alerts)
    bursts = {program.name: [] for program in chosen}
    shutdowns = {program.name: [] for program in chosen}
    leftovers = {program.name: 0 for program in chosen}
    load = os.getloadavg()[0]
    for round_number in range(args.rounds):
        order = chosen[round_number % len(chosen):] + chosen[:round_number % len(chosen)]
        for program in order:
            burst, shutdown, left = one_burst(drive, program, wanted)
            bursts[program.name].append(burst)
            shutdowns[program.name].append(shutdown)
            leftovers[program.name] = max(leftovers[program.name], left)
            print("round %d: %-14s %6.2f s burst (%5.1f ms an alert), %6.2f s shutdown deletes, %d left blocked" % (
                round_number + 1, program.name, burst, burst * 1000 / len(wanted), shutdown, left), flush=True)

    median = {name: statistics.median(times) for name, times in bursts.items()}
    reference, script, ours = median["firewall-drop"], median["seed-drop"], median["palisade-drop"]
    rows = []
    for program in chosen:
        name = program.name
        rows.append("| %s | %.2f | %.1f | %.2fx | %.2fx | %.2f | %d |" % (
            name, median[name], median[name] * 1000 / len(wanted), median[name] / reference, median[name] / script,
            statistics.median(shutdowns[name]), leftovers[name]))
    cpu = "unknown"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    section = "\n".join([
        HEADING + " (bench/execd-burst.py)",
        "",
        "- date: %s" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "- machine: %d CPUs, %s, kernel %s, load average %.2f at the start" % (os.cpu_count(), cpu, platform.release(), load),
        "- execd: Wazuh v4.14.7's own wazuh-execd (../shared/wazuh-execd), production logging (no -d), one network namespace per run; %s; %s" % (
            version_of(["nft", "--version"]), version_of(["iptables", "--version"])),
        "- method: %d rounds; in each, every program gets a fresh execd and namespace, in an order that rotates; %d alerts from distinct addresses sent as agentd sends them (one datagram each, as fast as execd's queue takes them), ar.conf timeout %d s; timed from the first datagram until the AR's log shows its last add done, then the ruleset must hold all %d addresses; \"shutdown\" is SIGTERM until execd exits, having run every pending delete (the ruleset must then hold none). Medians of the rounds." % (
            args.rounds, len(wanted), TIMEOUT, len(wanted)),
        "",
        "| AR program | burst s | ms an alert | vs firewall-drop | vs seed-drop | shutdown deletes s | left blocked after shutdown |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "**palisade-drop: %.2fx Wazuh's firewall-drop (goal <= 3x: %s), %.2fx the bash+jq+nft script (goal <= 0.35x: %s).**" % (
            ours / reference, "met" if ours / reference <= 3 else "missed", ours / script, "met" if ours / script <= 0.35 else "missed"),
        "",
    ])
    write_results(section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
