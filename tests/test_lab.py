"""`make lab`: the real JupyterLab server on loopback, as a learner starts it (helpers.lab).

One server for the module, started on a port that is already taken, so that it must pick another
and say which. Through its REST API it lists the six lessons; through a kernel it starts, over its
websocket, it runs one lesson notebook's code cells; and Debian's headless Chromium loads the Lab
page and must show the lessons in the file browser (a screenshot is kept beside the DOM).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import nbformat
import pytest

from helpers.lab import NOTEBOOKS, lab_command, lab_environment

LESSONS = sorted(p.name for p in NOTEBOOKS.glob("0*.ipynb"))
NOTEBOOK_RUN = "solutions/04_synthetic_data.ipynb"  # a short notebook of the course, run for real


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    token, log = uuid.uuid4().hex, folder / "server.log"
    # a user's own "python3" kernel (another interpreter) must not replace the project's
    user_kernel = folder / "user-data" / "kernels" / "python3"
    user_kernel.mkdir(parents=True)
    (user_kernel / "kernel.json").write_text(json.dumps({
        "argv": ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "someone else's Python", "language": "python"}))
    env = lab_environment({**os.environ, "JUPYTER_RUNTIME_DIR": str(folder / "runtime"),
                           "JUPYTER_DATA_DIR": str(folder / "user-data")})
    with open(log, "w") as out:
        server = subprocess.Popen(lab_command(taken.getsockname()[1], token, open_browser=False),
                                  stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        port, deadline = None, time.monotonic() + 120
        while port is None:
            found = re.search(r"http://127\.0\.0\.1:(\d+)/lab", log.read_text())
            port = int(found.group(1)) if found else None
            assert server.poll() is None, f"the Lab server stopped:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no address from the Lab server in 2 minutes:\n{log.read_text()}"
            time.sleep(0.5)
        yield {"port": port, "token": token, "taken": taken.getsockname()[1], "log": log, "folder": folder}
    finally:
        server.terminate()
        server.wait(timeout=30)
        taken.close()


def _api(lab, path: str, method: str = "GET", body: dict | None = None):
    request = urllib.request.Request(f"http://127.0.0.1:{lab['port']}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {lab['token']}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
    return json.loads(text) if text else None


def test_lab_skips_a_taken_port_and_says_which(lab):
    assert lab["port"] != lab["taken"]
    assert "already in use" in lab["log"].read_text()


def test_lab_lists_the_six_lessons(lab):
    assert len(LESSONS) == 6
    names = {item["name"] for item in _api(lab, "/api/contents/")["content"]}
    assert set(LESSONS) <= names and "solutions" in names


def _execute(ws, session: str, code: str) -> tuple[dict, list[dict]]:
    """Send one execute_request on the kernel's websocket; the reply and the iopub messages it caused."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session, "username": "test",
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    # done when both the shell reply and the iopub "idle" for this request have come: the two
    # channels are not ordered against each other, so output may still follow the reply
    outputs, reply, idle, deadline = [], None, False, time.monotonic() + 300
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv())
        if msg["msg_type"] == "status" and msg["content"].get("execution_state") in ("dead", "restarting"):
            raise AssertionError(f"the kernel died running:\n{code}")
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] in ("stream", "error", "execute_result", "display_data"):
            outputs.append(msg)
        elif msg["msg_type"] == "execute_reply":
            reply = msg["content"]
        elif msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
            idle = True
        if reply is not None and idle:
            return reply, outputs
    raise AssertionError(f"no reply in 5 minutes to:\n{code}")


def test_a_lesson_notebook_runs_in_a_kernel_the_lab_started(lab):
    import websocket  # websocket-client

    session = _api(lab, "/api/sessions", "POST", {"path": NOTEBOOK_RUN, "type": "notebook", "name": "",
                                                   "kernel": {"name": "python3"}})
    kernel, session_id = session["kernel"]["id"], uuid.uuid4().hex
    ws = websocket.create_connection(f"ws://127.0.0.1:{lab['port']}/api/kernels/{kernel}/channels"
                                     f"?session_id={session_id}&token={lab['token']}", timeout=120)
    try:
        cells = [c for c in nbformat.read(NOTEBOOKS / NOTEBOOK_RUN, as_version=4).cells if c.cell_type == "code"]
        assert cells
        for i, cell in enumerate(cells):
            reply, outputs = _execute(ws, session_id, cell.source)
            errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
            assert reply["status"] == "ok", f"{NOTEBOOK_RUN} code cell {i}: {reply.get('ename')}: {errors}"
        # the project's kernel: the environment that runs these tests (not the user's "python3"), with `helpers`
        reply, outputs = _execute(ws, session_id, "import sys, helpers; print(sys.prefix)")
        printed = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream").strip()
        assert reply["status"] == "ok" and printed == sys.prefix
    finally:
        ws.close()
        _api(lab, f"/api/sessions/{session['id']}", "DELETE")


def test_the_lab_page_shows_the_lessons_in_a_browser(lab):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (`make test` installs it)")
    url = f"http://127.0.0.1:{lab['port']}/lab?token={lab['token']}"
    # no sandbox: it needs privileges that containers (and root) do not have; the page is our own, on loopback
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,720",
             "--virtual-time-budget=20000"]
    screenshot = lab["folder"] / "lab.png"
    subprocess.run([*flags, f"--screenshot={screenshot}", url], check=True, capture_output=True, timeout=180)
    assert screenshot.read_bytes()[:4] == b"\x89PNG"
    dom = subprocess.run([*flags, "--dump-dom", url], check=True, capture_output=True, text=True, timeout=180).stdout
    # the file browser lists every lesson once the page has rendered (its DOM holds each name)
    missing = [name for name in LESSONS if name not in dom]
    assert not missing, f"the Lab page rendered without {missing} (screenshot: {screenshot})"
