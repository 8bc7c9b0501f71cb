"""Inside the roots only (issue 14, item 8): paths resolved and refused outside the workspace and the
--data-root folders, a browser that never follows a symlink out, Host headers checked, no open bind
without a login."""

import http.client
import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from core.errors import InputError
from core.roots import Roots, allowed_hosts, host_allowed, is_loopback
from core.studio import Studio

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def tree(tmp_path):
    """data/ (a root) holding a real folder, a link inside it and a link out to secret/."""
    data, secret = tmp_path / "data", tmp_path / "secret"
    (data / "clips").mkdir(parents=True)
    (secret / "private").mkdir(parents=True)
    (secret / "passwords.mp4").write_bytes(b"x")
    (data / "out").symlink_to(secret, target_is_directory=True)
    (data / "same").symlink_to(data / "clips", target_is_directory=True)
    return tmp_path, data, secret


def test_paths_resolve_symlinks_and_stay_inside(tree):
    tmp, data, secret = tree
    roots = Roots([data])
    assert roots.check(data / "clips") == (data / "clips").resolve()
    assert roots.check(data / "same") == (data / "clips").resolve()         # a link inside stays inside
    assert roots.check(data / "new" / "export") == (data / "new" / "export").resolve()  # a target yet to be made
    for outside in (secret, data / "out", data / "out" / "private", data / "clips" / ".." / ".." / "secret", "/"):
        with pytest.raises(InputError, match="outside the folders this studio may read"):
            roots.check(outside)
    assert not roots.contains(tmp / "data-other")          # a prefix is not a parent
    assert roots.listing(data) == ["clips", "same"]        # the link out is not listed
    assert roots.listing(data / "out") == [] and roots.listing(secret) == []


def test_hosts_and_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")
    assert {"127.0.0.1:7860", "localhost:7860", "localhost"} <= allowed_hosts("127.0.0.1", 7860)
    assert host_allowed("LOCALHOST:7860", "127.0.0.1", 7860) and host_allowed("10.0.0.2:80", "10.0.0.2", 80)
    assert not host_allowed("evil.example:7860", "127.0.0.1", 7860)
    assert not host_allowed("127.0.0.1:9999", "127.0.0.1", 7860) and not host_allowed(None, "127.0.0.1", 7860)


def test_studio_with_roots_refuses_every_path_input(tree):
    from app import dataset_tab, dlcr_import_panel

    tmp, data, secret = tree
    studio = Studio(tmp / "ws", roots=[data])
    assert studio.check_path(tmp / "ws" / "datasets") == (tmp / "ws" / "datasets").resolve()   # the workspace
    for p in (secret, data / "out"):
        out = dataset_tab.open_path(studio, str(p))
        assert "outside the folders this studio may read" in out["error"] and out["picker"] is not None
        assert "outside the folders" in dataset_tab.pattern_preview(studio, str(p), "{sid}_{seq}")["error"]
        table = dataset_tab.detect_table(studio, str(p))
        assert list(table["format"]) == ["—"] and "outside the folders" in table["reason"][0]
        assert "outside the folders" in dlcr_import_panel.import_preview(studio, str(p), "dlcr-strips", 10, None)["msg"]
        with pytest.raises(InputError, match="outside"):
            studio.export_curated(1, p / "strips")
    assert studio.datasets() == []                          # nothing outside was registered
    # without roots (the CLI, a notebook) paths are only resolved
    assert Studio(tmp / "ws").check_path(data / "out") == secret.resolve()


def test_folder_browser_never_leaves_a_root(tree):
    import gradio as gr

    from app import dataset_tab

    tmp, data, secret = tree
    studio = Studio(tmp / "ws", roots=[data])
    explorer = dataset_tab.rooted_explorer(studio)(root_dir=str(data), render=False)
    assert [e["name"] for e in explorer.ls()] == ["clips", "same"]
    assert explorer.ls(["out"]) == [] and explorer.ls(["out", "private"]) == []
    assert explorer.get_block_name() == "fileexplorer"
    assert dataset_tab.browse_root(str(secret), [str(data)]) == gr.skip()     # a root not offered is ignored
    assert dataset_tab.browse_root(str(data), [str(data)])["root_dir"] == str(data)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def served(tree):
    """The real app, launched in this process on a free port, roots = data/."""
    from app.main import launch

    tmp, data, secret = tree
    studio = Studio(tmp / "ws", roots=[data])
    port = _free_port()
    server_app, _, _ = launch(studio, host="127.0.0.1", port=port, quiet=True, prevent_thread_lock=True,
                              ssr_mode=False, data_roots=[data, studio.ws.root])
    try:
        yield port, tree
    finally:
        server_app.get_blocks().close()


def test_real_app_refuses_outside_paths_and_foreign_hosts(served):
    from gradio_client import Client

    port, (tmp, data, secret) = served
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    for p in (secret, data / "out"):
        opened = client.predict(str(p), "auto-detect", "", api_name="/open_path")
        assert "outside the folders this studio may read" in json.dumps(opened)
        checked = client.predict(str(p), "{sid}_{seq}", "auto-detect", api_name="/check_pattern")
        assert "outside the folders" in json.dumps(checked) and "passwords" not in json.dumps(checked)
        detected = client.predict(str(p), api_name="/detect_formats")
        assert "outside the folders" in json.dumps(detected)
        pv = client.predict(str(p), "dlcr-strips", 10, None, api_name="/import_preview")
        assert "outside the folders" in json.dumps(pv)

    # the explorer's listing, called as the page calls it
    config = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=10).read())
    comp = next(c for c in config["components"] if (c.get("props") or {}).get("elem_id") == "browse-explorer")

    def ls(sub):
        body = json.dumps({"session_hash": "t", "component_id": comp["id"], "fn_name": "ls", "data": sub}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/gradio_api/component_server", data=body,
                                     headers={"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(req, timeout=10).read())

    assert [e["name"] for e in ls(None)] == ["clips", "same"]       # rooted at data/, the first root
    assert ls(["out"]) == [] and ls(["out", "private"]) == []

    # DNS rebinding: a foreign Host is refused, this machine's names are served
    for host, status in ((f"evil.example:{port}", 421), (f"127.0.0.1:{port}", 200), (f"localhost:{port}", 200)):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/", headers={"Host": host})
        resp = conn.getresponse()
        assert resp.status == status, (host, resp.status)
        if status == 421:
            assert b"not this studio's address" in resp.read()
        conn.close()


def test_open_bind_without_auth_is_refused(tmp_path):
    for extra, needle in ((["--host", "192.168.7.7"], "--auth USER:PASS"), (["--auth", "nopass"], "USER:PASS")):
        proc = subprocess.run([sys.executable, str(ROOT / "launch.py"), "--workspace", str(tmp_path / "ws"), *extra],
                              cwd=ROOT, capture_output=True, text=True, timeout=60, env=dict(os.environ))
        assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
    assert not (tmp_path / "ws").exists()       # refused before anything was created
