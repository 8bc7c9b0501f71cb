"""Start HybridGait Studio in the browser: ``python launch.py [--workspace DIR] [--port 7860] [--demo]``.

The studio reads and lists only the workspace and the ``--data-root`` folders, answers only requests
addressed to it, and serves another machine (``--host`` not loopback) only behind ``--auth USER:PASS``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Keep gradio from phoning home, and the hub from retrying for seconds before failing, from before
# either is imported. Offline is the studio's default, marked as its own (core.hub.STUDIO_OFFLINE) so
# that a download the user allows may lift it; an HF_HUB_OFFLINE the user set is never lifted.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
if "HF_HUB_OFFLINE" not in os.environ:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HYBRIDGAIT_DEFAULT_OFFLINE"] = "1"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workspace", default="workspace", help="workspace folder (catalog, datasets, runs)")
    ap.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: this machine only)")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--demo", action="store_true", help="create the synthetic demo set if the workspace has none")
    ap.add_argument("--data-root", action="append", default=None, metavar="DIR",
                    help="a folder the dataset browser may list (repeatable; default: the current directory; the workspace is always listed)")
    ap.add_argument("--auth", default=None, metavar="USER:PASS",
                    help="ask for this user name and password (needed to listen on another interface than loopback)")
    args = ap.parse_args(argv)

    from core.roots import is_loopback

    auth = None
    if args.auth is not None:
        user, sep, password = args.auth.partition(":")
        if not (user and sep and password):
            ap.error("--auth: give USER:PASS, both non-empty")
        auth = (user, password)
    if not is_loopback(args.host) and auth is None:
        ap.error(f"--host {args.host} would let other machines reach the studio, which can read your data folders "
                 "and run jobs; add --auth USER:PASS to require a login, or keep the default 127.0.0.1")
    roots = [Path(r).expanduser().resolve() for r in (args.data_root or [os.getcwd()])]
    missing = [str(r) for r in roots if not r.is_dir()]
    if missing:
        ap.error(f"--data-root: not a folder: {', '.join(missing)}")

    from app.dataset_tab import demo_kwargs
    from app.main import launch
    from core.studio import Studio

    studio = Studio(Path(args.workspace).resolve(), roots=roots)
    lost = studio.recovered
    if lost:
        print(f"marked job(s) {', '.join(map(str, lost))} as interrupted (their worker is gone); resume them in the UI")
    if args.demo and not studio.datasets() and not studio.active_job("demo"):
        job_id = studio.create_demo(**demo_kwargs())
        print(f"creating the demo dataset (job #{job_id})")
    if studio.ws.root not in roots:   # the workspace's own datasets are always browsable
        roots.append(studio.ws.root)
    launch(studio, host=args.host, port=args.port, quiet=True, prevent_thread_lock=True, ssr_mode=False,
           data_roots=roots, auth=auth)
    print(f"HybridGait Studio ready at http://{args.host}:{args.port}  (workspace {studio.ws.root})", flush=True)
    try:
        import time
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
