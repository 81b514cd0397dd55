#!/usr/bin/env python3
"""The real Wazuh 5.x execd, for the tests: shared/wazuh5-execd/drive5.py plays agentd (the startup gate, the
datagram on queue/sockets/execq), driven from test/harness/wazuh5-execd.ts one JSON request a line on stdin,
one JSON answer a line on stdout. Node has no unix datagram sockets; drive5.py is the reference driver.

Requests: {"op":"init","home":H}  {"op":"start","netns":N|null}  {"op":"send","text":T}
          {"op":"wait","regex":R,"log":"ossec"|"ar","timeout":S}  {"op":"stop","timeout":S}  {"op":"logs"}
A wait searches after the previous match in the same log, so a sequence of waits reads the log in order.
"""
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
import drive5  # noqa: E402

# The drivers print their progress on stdout; only answers may go there.
answers = sys.stdout
sys.stdout = sys.stderr


def main():
    home = None
    execd = None
    cursor = {}
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        try:
            answer = {"ok": True}
            if op == "init":
                home = drive5.init_home5(request["home"], block_ip=False)
            elif op == "start":
                execd = drive5.Execd5(home, netns=request.get("netns"), debug=2)
                execd.start(timeout=request.get("timeout", 20))
                cursor = {}
            elif op == "send":
                execd.send_raw(request["text"])
            elif op == "wait":
                which = request.get("log", "ossec")
                match = execd.wait_log(request["regex"], request.get("timeout", 15), which=which, start=cursor.get(which))
                cursor[which] = execd.last_end_offset
                answer["match"] = match.group(0)
            elif op == "stop":
                answer["status"] = execd.stop(timeout=request.get("timeout", 30)) if execd else None
            elif op == "logs":
                answer["ossec"] = execd.log_text("ossec") if execd else ""
                answer["ar"] = execd.log_text("ar") if execd else ""
            else:
                raise ValueError("unknown op %r" % op)
        except BaseException as error:  # noqa: BLE001 (SystemExit from init_home5 included): the test reads it
            answer = {"ok": False, "error": "%s: %s" % (type(error).__name__, error)}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    if execd is not None and execd.proc is not None and execd.proc.poll() is None:
        execd.stop(timeout=30)


if __name__ == "__main__":
    main()
