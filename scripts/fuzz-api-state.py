#!/usr/bin/env python3
"""The data side of scripts/fuzz-api (Python's standard library only).

  lo-up                         bring up `lo` (in a fresh network namespace)
  free-port                     print a free TCP port on 127.0.0.1
  wait URL PID                  wait until URL/healthz answers (fails when PID exits)
  seed URL DIR REPO PACKAGES ROUND
                                put real data into the server through its API
                                (round 1: before the fuzzer, also writes
                                DIR/ids.json and DIR/schemathesis.toml with the
                                real ids; round 2: after it, again)
  snapshot URL DIR NAME         what the server has now -> DIR/NAME.json
  compare DIR BEFORE AFTER      AFTER has everything BEFORE had
  smoke URL DIR                 a restarted server serves the seeded webhook

Talks to 127.0.0.1 only, never through a proxy.
"""

import fcntl
import json
import os
import socket
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fail(message):
    print(f"fuzz-api: {message}", file=sys.stderr)
    sys.exit(1)


def call(base, method, path, token=None, body=None, ctype=None, timeout=60):
    """One request: (status, parsed JSON or text or None)."""
    data = None
    headers = {}
    if body is not None:
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
            ctype = ctype or "application/json"
    if ctype:
        headers["content-type"] = ctype
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with OPENER.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return status, parsed


def must(expected, what, status, body):
    if status not in expected:
        fail(f"{what}: expected {' or '.join(map(str, expected))}, got {status}: {body}")
    return body


def load(directory, name):
    with open(os.path.join(directory, name)) as f:
        return json.load(f)


def save(directory, name, value):
    with open(os.path.join(directory, name), "w") as f:
        json.dump(value, f, indent=1, sort_keys=True)


# ---- plumbing ----


def lo_up():
    """`ip link set lo up`, without needing iproute2."""
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ifreq = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH22x", b"lo", 0))
    flags = struct.unpack("16sH22x", ifreq)[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def wait(base, pid):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            fail("the server exited before it answered")
        try:
            if call(base, "GET", "/healthz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    fail("the server did not answer /healthz within 120 s")


# ---- seeding ----


def token_for(base, directory):
    """A token that works now: the fuzzer may have revoked the admin token
    (a real id it is given) or, by chance, replaced another."""
    ids = load(directory, "ids.json")
    for name in ("checker", "admin", "fuzzer"):
        token = ids["tokens"].get(name)
        if token and call(base, "GET", "/api/v1/tokens", token)[0] == 200:
            return token
    fail("no token of the seeded ones is accepted any more")


def settle(base, token, ids, seconds=30):
    """Wait until the executions in ids are no longer running."""
    deadline = time.monotonic() + seconds
    while True:
        running = []
        for execution in ids:
            status, body = call(base, "GET", f"/api/v1/executions/{execution}", token)
            must([200], f"GET /api/v1/executions/{execution}", status, body)
            if body["status"] == "running":
                running.append(execution)
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.2)


def seed(base, directory, repo, packages, round_):
    round_ = int(round_)
    workflows_dir = os.path.join(repo, "examples", "workflows")
    if round_ == 1:
        admin = os.environ["WIREWORK_ADMIN_TOKEN"]
        tokens = {"admin": admin}
        for name in ("fuzzer", "checker"):
            status, body = call(base, "POST", "/api/v1/tokens", admin, {"name": name})
            tokens[name] = must([201], f"POST /api/v1/tokens {name}", status, body)["token"]
        token = tokens["checker"]
    else:
        ids = load(directory, "ids.json")
        tokens = ids["tokens"]
        token = token_for(base, directory)
        # Put the packages back as they were built (the fuzzer may have
        # removed a version or changed the grants; an upload with no grant
        # parameters records no grants).
        for package in sorted(os.listdir(packages)):
            with open(os.path.join(packages, package), "rb") as f:
                status, body = call(base, "POST", "/api/v1/plugins", token, f.read(), "application/octet-stream")
            must([201], f"POST /api/v1/plugins {package}", status, body)

    status, body = call(base, "POST", "/api/v1/tokens", token, {"name": "ci"})
    must([201], "POST /api/v1/tokens ci", status, body)

    # Workflows: lead intake (sync webhook, core nodes only) twice, so it has
    # two versions to roll back between, and approval (async webhook, waits
    # for events, http nodes that are not granted and so fail).
    for name in ("lead-intake.yaml", "lead-intake.yaml", "approval.yaml"):
        with open(os.path.join(workflows_dir, name), "rb") as f:
            status, body = call(base, "POST", "/api/v1/workflows", token, f.read(), "application/yaml")
        must([201], f"POST /api/v1/workflows ({name})", status, body)
    for workflow in ("lead-intake", "approval"):
        status, body = call(base, "POST", f"/api/v1/workflows/{workflow}/activate", token)
        must([200], f"POST /api/v1/workflows/{workflow}/activate", status, body)

    executions = []
    for i, score in enumerate((72, 20, 50)):
        lead = {"email": f"lead{round_}-{i}@example.com", "score": score}
        status, body = call(base, "POST", "/hooks/lead-intake/leads", body=lead)
        body = must([201], "POST /hooks/lead-intake/leads", status, body)
        if body.get("lead") != lead["email"] or body.get("priority") != ("hot" if score >= 50 else "normal"):
            fail(f"POST /hooks/lead-intake/leads answered {body}")
        executions.append(body["execution"])
    status, body = call(base, "POST", "/api/v1/workflows/lead-intake/executions", token,
                        {"items": [{"email": f"hand{round_}@example.com", "score": 90}]})
    executions.append(must([202], "POST /api/v1/workflows/lead-intake/executions", status, body)["execution_id"])
    requests = [f"r{round_}-{i}" for i in range(2)]
    for request in requests:
        item = {"request_id": request, "requester": "ann@example.com", "type": "laptop", "impact": "low", "amount": 1200}
        status, body = call(base, "POST", "/hooks/approval/requests", body=item)
        executions.append(must([202], "POST /hooks/approval/requests", status, body)["execution_id"])
    # Wait until the requests wait for their manager, then deny the second:
    # telling the requester needs wirework/http, which has no grant, so that
    # execution fails (a real id for retry); the first keeps waiting (one
    # for cancel, and one that waits across the restart).
    running = settle(base, token, executions)
    if running:
        fail(f"executions still running after 30 s: {running}")
    status, body = call(base, "POST", "/api/v1/events", token,
                        {"name": f"approval.decided:{requests[1]}:manager",
                         "payload": {"decision": "denied", "by": "bob", "note": "over budget"}})
    must([200], "POST /api/v1/events", status, body)
    running = settle(base, token, executions)
    if running:
        fail(f"executions still running after 30 s: {running}")

    for name, value in (("sendgrid", "SG.fuzz-api-seed"), ("crm-api-key", f"crm-{round_}")):
        status, body = call(base, "PUT", f"/api/v1/credentials/{name}", token, {"value": value})
        must([204], f"PUT /api/v1/credentials/{name}", status, body)

    statuses = {}
    for execution in executions:
        statuses[execution] = call(base, "GET", f"/api/v1/executions/{execution}", token)[1]["status"]
    print(f"fuzz-api: seeded (round {round_}): executions {json.dumps(statuses)}")
    if round_ == 1:
        expected = ["succeeded"] * 4 + ["waiting", "failed"]
        if [statuses[e] for e in executions] != expected:
            fail(f"the seeded executions ended as {statuses}, not {expected}")
        write_ids(base, directory, repo, token, tokens, executions, requests)


def write_ids(base, directory, repo, token, tokens, executions, requests):
    plugins = must([200], "GET /api/v1/plugins", *call(base, "GET", "/api/v1/plugins", token))
    ids = {
        "tokens": tokens,
        "workflows": ["lead-intake", "approval"],
        "executions": executions,
        "plugins": sorted({p["name"] for p in plugins}),
        "plugin_versions": sorted({p["version"] for p in plugins}),
        "credentials": ["sendgrid", "crm-api-key"],
        "events": [f"approval.decided:{requests[0]}:manager", f"approval.clarified:{requests[0]}"],
    }
    save(directory, "ids.json", ids)
    write_config(base, directory, repo, ids)


def toml_string(value):
    # A JSON string is a TOML basic string for everything written here.
    return json.dumps(value)


def write_config(base, directory, repo, ids):
    """schemathesis.toml: the fuzzer's token, and the real ids as
    dictionaries that the generated path parameters and body fields draw
    from (with some probability, so that unknown ids are tried as well)."""
    publishers = sorted({p.split("/")[0] for p in ids["plugins"]})
    names = sorted({p.split("/")[1] for p in ids["plugins"]})
    dictionaries = {
        "workflows": ids["workflows"],
        "executions": ids["executions"],
        "triggers": ["form", "request", "manual"],
        "versions": [1, 2, 3],
        "publishers": publishers,
        "plugin_names": names,
        "plugin_versions": ids["plugin_versions"],
        "plugin_specs": [f"{p}@^0.1" for p in ids["plugins"]] + ids["plugins"],
        "plugins": ids["plugins"],
        # Registries on loopback only: nothing listens on the first (the
        # server answers 502), the second is the server itself (not a
        # registry). The fuzzer never makes the server reach further.
        "registries": ["http://127.0.0.1:9", base],
        "credentials": ids["credentials"],
        # Never the fuzzer's own token (nor the checker's): revoking or
        # replacing those would only lock the fuzzer out. `admin` is fine:
        # the fuzzer does not use it, and the restart brings it back.
        "tokens": ["ci", "admin"],
        "events": ids["events"],
        "hook_workflows": ids["workflows"],
        "hook_paths": ["leads", "requests"],
    }
    lines = [
        "# Written by scripts/fuzz-api-state.py for one run of scripts/fuzz-api.",
        f"base-url = {toml_string(base)}",
        f"hooks = {toml_string(os.path.join(repo, 'scripts', 'fuzz-api-hooks.py'))}",
        "",
        "[auth.openapi.bearer]",
        f"bearer = {toml_string(ids['tokens']['fuzzer'])}",
        "",
    ]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]

    def operation(operation_ids, parameters, extra=()):
        nonlocal lines
        lines += ["[[operations]]", f"include-operation-id = {json.dumps(operation_ids)}"]
        if parameters:
            bound = ", ".join(
                f"{toml_string(key)} = {{ dictionary = {toml_string(dictionary)}, probability = {probability} }}"
                for key, (dictionary, probability) in parameters.items()
            )
            lines.append(f"parameters = {{ {bound} }}")
        lines += list(extra) + [""]

    workflow_ops = ["getWorkflow", "activateWorkflow", "deactivateWorkflow", "listWorkflowVersions"]
    operation(workflow_ops, {"path.id": ("workflows", 0.8)})
    # Rarely a seeded one: deleting it would leave the rest of the run 404s
    # (round 2 of the seeding deploys it again for the restart check).
    operation(["deleteWorkflow"], {"path.id": ("workflows", 0.2)})
    operation(["rollbackWorkflow"], {"path.id": ("workflows", 0.8), "body.version": ("versions", 0.7)})
    operation(["startExecution"], {"path.id": ("workflows", 0.8), "body.trigger": ("triggers", 0.7)})
    operation(["listExecutions"], {"query.workflow": ("workflows", 0.7), "query.before": ("executions", 0.7)})
    operation(["getExecution", "retryExecution", "cancelExecution"], {"path.id": ("executions", 0.8)})
    operation(["removePlugin"], {"path.publisher": ("publishers", 0.8), "path.name": ("plugin_names", 0.8),
                                 "path.version": ("plugin_versions", 0.8)})
    operation(["getGrants", "setGrants"], {"path.publisher": ("publishers", 0.8), "path.name": ("plugin_names", 0.8)})
    # Only loopback registries, always; 502 is what these answer, as
    # documented, when a registry cannot be reached.
    operation(["installPluginFromRegistry", "previewPluginInstall"],
              {"body.plugin": ("plugin_specs", 0.7), "body.registry": ("registries", 1.0)},
              ['checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "502"]'])
    operation(["installLockedPlugins"], {},
              ['checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "502"]'])
    operation(["upgradePlugins"], {"body.plugins[*]": ("plugins", 0.7)})
    operation(["setCredential", "deleteCredential"], {"path.name": ("credentials", 0.8)})
    operation(["revokeToken"], {"path.name": ("tokens", 0.5)})
    operation(["emitEvent"], {"body.name": ("events", 0.5)})
    operation(["webhookGet", "webhookPost", "webhookPut", "webhookPatch", "webhookDelete"],
              {"path.workflow": ("hook_workflows", 0.9), "path.path": ("hook_paths", 0.9)})
    with open(os.path.join(directory, "schemathesis.toml"), "w") as f:
        f.write("\n".join(lines))


# ---- what the server has ----


def snapshot(base, directory, name):
    token = token_for(base, directory)

    def get(path):
        return must([200], f"GET {path}", *call(base, "GET", path, token))

    state = {"workflows": {}, "executions": {}, "plugins": {}, "grants": {}, "credentials": {}, "tokens": {}}
    for head in get("/api/v1/workflows"):
        versions = get(f"/api/v1/workflows/{urllib.parse.quote(head['id'], safe='')}/versions")
        state["workflows"][head["id"]] = {"head": head, "versions": versions}
    before = None
    while True:
        query = "limit=10000" + (f"&before={before}" if before else "")
        page = get(f"/api/v1/executions?{query}")
        for e in page:
            state["executions"][e["id"]] = e
        if len(page) < 10000:
            break
        before = page[-1]["id"]
    for plugin in get("/api/v1/plugins"):
        state["plugins"][f"{plugin['name']}@{plugin['version']}"] = plugin
        publisher, plugin_name = plugin["name"].split("/", 1)
        state["grants"][plugin["name"]] = get(f"/api/v1/plugins/{publisher}/{plugin_name}/grants")
    for credential in get("/api/v1/credentials"):
        state["credentials"][credential["name"]] = credential
    for t in get("/api/v1/tokens"):
        state["tokens"][t["name"]] = t
    save(directory, f"{name}.json", state)
    counts = ", ".join(f"{len(v)} {k}" for k, v in state.items())
    print(f"fuzz-api: {name}: {counts}")


FINISHED = {"succeeded", "failed", "cancelled"}


def compare(directory, before_name, after_name):
    before, after = load(directory, f"{before_name}.json"), load(directory, f"{after_name}.json")
    problems = []

    def same(kind):
        for key, value in before[kind].items():
            if key not in after[kind]:
                problems.append(f"{kind}: {key} is gone")
            elif after[kind][key] != value:
                problems.append(f"{kind}: {key} was {json.dumps(value)}, is {json.dumps(after[kind][key])}")
        for key in after[kind].keys() - before[kind].keys():
            problems.append(f"{kind}: {key} is new")

    for kind in ("workflows", "plugins", "grants", "credentials"):
        same(kind)
    # Executions: each one is still there; a finished one exactly as it was;
    # a running or waiting one on its way (it continues after a restart).
    progressed = 0
    for key, value in before["executions"].items():
        now = after["executions"].get(key)
        if now is None:
            problems.append(f"executions: {key} is gone")
        elif value["status"] in FINISHED and now != value:
            problems.append(f"executions: {key} was {json.dumps(value)}, is {json.dumps(now)}")
        elif value["status"] not in FINISHED:
            fixed = {k: v for k, v in value.items() if k not in ("status", "finished_ms", "error")}
            if {k: now[k] for k in fixed} != fixed:
                problems.append(f"executions: {key} was {json.dumps(value)}, is {json.dumps(now)}")
            progressed += now["status"] != value["status"]
    new_executions = after["executions"].keys() - before["executions"].keys()
    if new_executions:
        problems.append(f"executions: {len(new_executions)} new ones after the restart: {sorted(new_executions)[:5]}")
    # Tokens: each one is still there; `admin` comes back at start from
    # WIREWORK_ADMIN_TOKEN if the fuzzer revoked it.
    for key, value in before["tokens"].items():
        if after["tokens"].get(key) != value:
            problems.append(f"tokens: {key} was {json.dumps(value)}, is {json.dumps(after['tokens'].get(key))}")
    for key in after["tokens"].keys() - before["tokens"].keys() - {"admin"}:
        problems.append(f"tokens: {key} is new")

    counts = ", ".join(f"{len(before[k])} {k}" for k in ("workflows", "executions", "plugins", "credentials", "tokens"))
    if problems:
        print(f"fuzz-api: after the restart, {len(problems)} differences from before it:", file=sys.stderr)
        for p in problems[:50]:
            print(f"  {p}", file=sys.stderr)
        sys.exit(1)
    print(f"fuzz-api: after the restart the server has everything it had: {counts}"
          f" ({progressed} unfinished executions moved on)")


def smoke(base, directory):
    """The restarted server serves the seeded workflow's webhook and runs it."""
    token = token_for(base, directory)
    lead = {"email": "after-restart@example.com", "score": 64}
    status, body = call(base, "POST", "/hooks/lead-intake/leads", body=lead)
    body = must([201], "POST /hooks/lead-intake/leads after the restart", status, body)
    if body.get("lead") != lead["email"] or body.get("priority") != "hot":
        fail(f"POST /hooks/lead-intake/leads after the restart answered {body}")
    status, execution = call(base, "GET", f"/api/v1/executions/{body['execution']}", token)
    if must([200], "GET the new execution", status, execution)["status"] != "succeeded":
        fail(f"the execution after the restart is {execution['status']}")
    print(f"fuzz-api: after the restart the lead-intake webhook runs (execution {body['execution']})")


def main(argv):
    commands = {
        "lo-up": lo_up, "free-port": free_port, "wait": wait, "seed": seed,
        "snapshot": snapshot, "compare": compare, "smoke": smoke,
    }
    if len(argv) < 2 or argv[1] not in commands:
        fail(f"usage: {argv[0]} {'|'.join(commands)} ...")
    commands[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
