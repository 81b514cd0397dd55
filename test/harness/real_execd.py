"""
The real wazuh-execd 4.14.7 (shared/wazuh-execd, driven by its own drive.py) running Palisade: one scenario,
observations printed as one JSON object for test/real-execd.test.ts to judge.

  python3 real_execd.py '{"driver": DIR, "binary": dist/palisade, "home": HOME, "netns": NS, "srcip": ADDR}'

HOME must not contain "/bin" (execd cuts its home there) and must be on the binary's file system: the
commands are hard links to it, as the packages install them.
"""
import json
import os
import subprocess
import sys

args = json.loads(sys.argv[1])
sys.path.insert(0, args["driver"])
from drive import init_home, Execd, sample_alert, ar_message  # noqa: E402

home, srcip, netns = args["home"], args["srcip"], args["netns"]
init_home(home, ar_entries=[("palisade-drop", "palisade-drop", 600), ("palisade-unblock", "palisade-unblock", 0)])
bin_dir = os.path.join(home, "active-response", "bin")
for name in ("palisade-drop", "palisade-unblock"):
    os.link(args["binary"], os.path.join(bin_dir, name))
with open(os.path.join(home, "etc", "palisade.yml"), "w") as f:
    f.write("backend: nftables\n")


def in_set():
    """The addresses in Palisade's IPv4 set, as the kernel holds them."""
    out = subprocess.run(["ip", "netns", "exec", netns, "nft", "-j", "list", "set", "inet", "palisade", "addr4"],
                         capture_output=True, text=True, timeout=10)
    if out.returncode != 0:
        return []
    elems = next((item["set"].get("elem", []) for item in json.loads(out.stdout)["nftables"] if "set" in item), [])
    return [e["elem"]["val"] if isinstance(e, dict) else e for e in elems]


def api_message(command, alert, extra_args=()):
    """What PUT /active-response queues for a 4.2.5+ agent (framework/wazuh/core/active_response.py,
    ARJsonMessage, without a cluster): origin.name null, module API, the caller's alert alone."""
    return json.dumps({"version": 1, "origin": {"name": None, "module": "API"}, "command": command,
                       "parameters": {"extra_args": list(extra_args), "alert": alert}})


report = {}
ex = Execd(home, netns=netns, debug=2)
ex.start()
try:
    # An alert from a rule: ar.conf's palisade-drop600, check_keys, continue, a timer of 600 s.
    ex.mark()
    ex.send_raw(ar_message("palisade-drop600", sample_alert(srcip=srcip)))
    ex.wait_log(r"Adding command 'active-response/bin/palisade-drop .* to the timeout list", since_mark=True)
    ex.wait_log(r"palisade-drop: Ended$", which="ar", since_mark=True)
    report["afterAdd"] = in_set()

    # The same "!" command from a rule match's alert is refused, and changes nothing.
    ex.mark()
    ex.send_raw(ar_message("!palisade-unblock", sample_alert(srcip=srcip)))
    ex.wait_log(r"palisade-unblock: \{.*refuses an alert from a rule match", which="ar", since_mark=True)
    report["afterRuleUnblock"] = in_set()

    # The API's "!palisade-unblock": no ar.conf entry, timeout 0.
    ex.mark()
    ex.send_raw(api_message("!palisade-unblock", {"data": {"srcip": srcip}}))
    ex.wait_log(r"Active response won't be added to timeout list.*active-response/bin/palisade-unblock", since_mark=True)
    ex.wait_log(r"palisade-unblock: Ended$", which="ar", since_mark=True)
    report["afterUnblock"] = in_set()

    # The alert again while execd's timer runs: abort, and Palisade blocks anew (a new attack).
    ex.mark()
    ex.send_raw(ar_message("palisade-drop600", sample_alert(srcip=srcip)))
    ex.wait_log(r"Command already received, updating time of addition to now", since_mark=True)
    ex.wait_log(r"palisade-drop: Aborted$", which="ar", since_mark=True)
    report["afterRepeat"] = in_set()

    # The ar.conf form, as the API sends it by name: palisade-unblock0 (timeout 0, from the manager's
    # rule-less <active-response>).
    ex.mark()
    ex.send_raw(api_message("palisade-unblock0", {"data": {"srcip": srcip}}))
    ex.wait_log(r"palisade-unblock: Ended$", which="ar", since_mark=True)
    report["afterNamedUnblock"] = in_set()
finally:
    # SIGTERM: execd runs the delete of every AR still on its timer (palisade-drop's), then exits.
    ex.stop(timeout=30)
report["afterStop"] = in_set()
report["ossecLog"] = ex.log_text("ossec")
report["arLog"] = ex.log_text("ar")
report["leftovers"] = [str(p) for p in (ex.leftovers() or [])]
print(json.dumps(report))
