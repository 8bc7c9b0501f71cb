"""The studio's Gradio app: five steps as tabs plus a jobs panel, all polled from the catalog."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from app import assets, augment_tab, common as C, convert_tab, dataset_tab, results_tab, train_tab
from core.studio import roots

POLL_SECONDS = 2.0       # how often the page asks /hg/changes whether the catalog changed
FALLBACK_SECONDS = 60    # and refreshes anyway (what changes outside the catalog: files, clocks)


def jobs_panel(studio) -> dict:
    studio.recover()  # a worker that died while the app runs becomes resumable
    return {"jobs": C.jobs_table(studio), "failures": C.failures_md(studio)}


def build_app(studio, data_roots: list[Path] | None = None) -> gr.Blocks:
    """``data_roots``: folders the dataset browser may list (default: the current directory)."""
    with gr.Blocks(title="HybridGait Studio") as demo:
        gr.Markdown(f"# HybridGait Studio\nLocal gait-recognition workbench · workspace `{studio.ws.root}`")
        timer = C.Poll()
        loads = []
        with gr.Tabs(elem_id="steps"):
            with gr.Tab("1 · Dataset", id="dataset", elem_id="tab-dataset"):
                loads.append(dataset_tab.build(studio, timer, data_roots)["load"])
            with gr.Tab("2 · Convert", id="convert", elem_id="tab-convert"):
                loads.append(convert_tab.build(studio, timer)["load"])
            with gr.Tab("3 · Augment & Curate", id="augment", elem_id="tab-augment"):
                loads.append(augment_tab.build(studio, timer)["load"])
            with gr.Tab("4 · Train", id="train", elem_id="tab-train"):
                t = train_tab.build(studio, timer)
                loads += [t["load"], t["load_datasets"]]
            with gr.Tab("5 · Runs", id="results", elem_id="tab-results"):
                loads.append(results_tab.build(studio, timer)["load"])
        with gr.Accordion("Jobs", open=True, elem_id="jobs-panel"):
            jobs = gr.Dataframe(headers=C.JOBS_HEADERS, value=C.jobs_table(studio), interactive=False,
                                max_height=260, wrap=True, elem_id="jobs-table")
            failures = gr.Markdown(C.failures_md(studio), elem_id="jobs-failures")
        panel = dict(**C.wire(lambda: jobs_panel(studio), {"jobs": jobs, "failures": failures}), show_progress="hidden")
        timer.tick(**panel, concurrency_limit=None)
        # Populate every tab on page load too, so a fresh page does not wait for the first tick.
        for spec in loads + [panel]:
            demo.load(**spec, concurrency_limit=None)
    return demo


class HostGuard:
    """ASGI middleware refusing a request whose Host header is not the bound address or this machine's
    loopback names: a page on another site whose name was re-pointed at 127.0.0.1 (DNS rebinding)
    must not be able to drive the studio from the user's browser."""

    def __init__(self, app, host: str, port: int):
        self.app, self.host, self.port = app, host, port

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            header = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if not roots.host_allowed(header, self.host, self.port):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                from starlette.responses import PlainTextResponse

                refusal = PlainTextResponse(f"refused: Host {header!r} is not this studio's address "
                                            f"({self.host}:{self.port} or localhost:{self.port})", status_code=421)
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def changes_route(studio):
    """``GET /hg/changes``: a short text that changes whenever the catalog does (and every
    FALLBACK_SECONDS), so the page refreshes its tabs only then (see common.Poll)."""
    import time

    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    def changes(_request):
        return PlainTextResponse(f"{studio.catalog_version()}:{int(time.time() // FALLBACK_SECONDS)}",
                                 headers={"Cache-Control": "no-store"})

    return Route("/hg/changes", changes)


def launch(studio, *, host: str = "127.0.0.1", port: int = 7860, quiet: bool = False,
           data_roots: list[Path] | None = None, **kwargs):
    """Serve the app; only the workspace root is exposed as files (thumbnails, previews), and only to
    requests addressed to this server (HostGuard). ``kwargs`` go to Gradio's launch (auth=...)."""
    from starlette.middleware import Middleware

    demo = build_app(studio, data_roots)
    demo.queue(default_concurrency_limit=1)
    root = str(Path(studio.ws.root).resolve())
    # Given to FastAPI's constructor, so the guard is in place before the server answers anything.
    app_kwargs = dict(kwargs.pop("app_kwargs", None) or {})
    app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), Middleware(HostGuard, host=host, port=port)]
    app_kwargs["routes"] = [*app_kwargs.get("routes", []), changes_route(studio)]
    return demo.launch(server_name=host, server_port=port, allowed_paths=[root], css=assets.text(assets.THEME_CSS),
                       js=assets.text(assets.HOTKEYS_JS).replace("POLL_MS", str(int(POLL_SECONDS * 1000))), favicon_path=str(assets.LOGO), theme=gr.themes.Soft(),
                       quiet=quiet, footer_links=[], app_kwargs=app_kwargs, **kwargs)
