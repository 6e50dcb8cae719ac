"""The console's pages, fragments and actions (each a small function over the shared Console)."""

from __future__ import annotations

import json

from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from docpipe_local.console import document_view, history, operations, safety

STATUSES = ("RUNNING", "SUCCEEDED", "QUARANTINED", "FAILED", "IN_PROGRESS", "DELETED")


def build(console) -> list[Route]:
    rt = console.runtime

    def row_or_404(doc_id: str):
        if not safety.DOC_ID.fullmatch(doc_id):
            raise HTTPException(404, "no such document")
        row = console.catalog.rows.get(doc_id)
        if row is None:
            console.catalog.refresh(whole_ledger=True)
            row = console.catalog.rows.get(doc_id)
        if row is None:
            raise HTTPException(404, "no such document")
        return row

    # --- documents --------------------------------------------------------------------------------------
    async def documents(request: Request) -> HTMLResponse:
        wanted = request.query_params.get("status")
        rows = sorted(console.catalog.rows.values(), key=lambda r: r.started or "", reverse=True)
        counts = {status: sum(r.status == status for r in rows) for status in STATUSES}
        shown = [r for r in rows if not wanted or r.status == wanted]
        return console.render("documents.html", rows=shown, total=len(rows), counts=counts, statuses=STATUSES, wanted=wanted,
                              limit=console.settings.upload_limit, page="documents")

    async def upload(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            return PlainTextResponse("refused: an upload must say its length", status_code=411)
        if int(length) > console.settings.upload_limit:
            return PlainTextResponse(f"refused: uploads are limited to {console.settings.upload_limit // 2**20} MB "
                                     "per request", status_code=413)
        form = await request.form(max_files=100, max_fields=10)
        files = []
        for item in form.getlist("files"):
            if isinstance(item, str):
                continue
            data = await item.read()
            files.append((item.filename or "upload", data))
        await form.close()
        if not files:
            return PlainTextResponse("refused: no file in the upload", status_code=400)
        names = await run_in_threadpool(console.submit, files)
        return JSONResponse({"submitted": names})

    async def delete(request: Request) -> Response:
        row = row_or_404(request.path_params["doc_id"])
        await run_in_threadpool(operations.delete, console, row)
        return PlainTextResponse(f"deleted {row.name}")

    async def reprocess(request: Request) -> Response:
        row = row_or_404(request.path_params["doc_id"])
        await run_in_threadpool(operations.reprocess, console, row)
        return PlainTextResponse(f"submitted {row.name} again")

    async def events(request: Request) -> EventSourceResponse:
        execution = request.query_params.get("execution")
        if execution and not execution.startswith(f"arn:aws:states:"):
            raise HTTPException(400, "not an execution")
        subscriber = console.broker.subscribe(execution)
        console.watcher.ring()  # the page gets its rows or states now, not at the next change

        async def stream():
            try:
                while True:
                    message = await subscriber.queue.get()
                    if console.broker.is_stop(message):
                        return
                    yield message
            finally:
                console.broker.unsubscribe(subscriber)
        return EventSourceResponse(stream(), ping=15)

    # --- one document -----------------------------------------------------------------------------------
    async def document(request: Request) -> HTMLResponse:
        row = row_or_404(request.path_params["doc_id"])
        view = await run_in_threadpool(operations.document_page, console, row, request.query_params.get("quote"))
        return console.render("document.html", row=row, page="documents", **view)

    async def state_detail(request: Request) -> HTMLResponse:
        row = row_or_404(request.path_params["doc_id"])
        key = request.path_params["key"]
        runs = history.read(console.history(row.execution)) if row.execution and _has_history(console, row) else {}
        run = runs.get(key)
        return console.render("_state.html", key=key, run=run.as_json() if run else None,
                              json=lambda value: json.dumps(value, indent=2, ensure_ascii=False))

    async def output(request: Request) -> Response:
        row = row_or_404(request.path_params["doc_id"])
        outputs = document_view.output_names(console.catalog.manifest(row.id))
        name = request.path_params["name"]
        if name not in outputs:  # only what the manifest published: no other key, no path
            raise HTTPException(404, "no such output")
        data = await run_in_threadpool(rt.read, outputs[name])
        media_type = _media_type(name)  # anything else (a quarantined original) is a download, never rendered
        disposition = "attachment" if media_type == "application/octet-stream" else "inline"
        return Response(data, media_type=media_type,
                        headers={"Content-Disposition": f'{disposition}; filename="{name}"',
                                 "X-Content-Type-Options": "nosniff",
                                 "Content-Security-Policy": "default-src 'none'; sandbox"})

    async def page_image(request: Request) -> Response:
        row = row_or_404(request.path_params["doc_id"])
        png = await run_in_threadpool(operations.page_image, console, row, request.path_params["page"])
        if png is None:
            raise HTTPException(404, "no image for this page")
        return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    # --- ask --------------------------------------------------------------------------------------------
    async def ask_page(request: Request) -> HTMLResponse:
        rows = [r for r in console.catalog.rows.values() if r.status == "SUCCEEDED"]
        return console.render("ask.html", rows=rows, page="ask", chosen=request.query_params.get("doc"))

    async def ask(request: Request) -> HTMLResponse:
        form = await request.form(max_files=0, max_fields=5)
        answer, problem = await run_in_threadpool(operations.ask, console, form.get("question", ""),
                                                  form.get("doc") or None)
        names = {row.id: row.name for row in console.catalog.rows.values()}
        return console.render("_answer.html", answer=answer, problem=problem, names=names)

    # --- cost -------------------------------------------------------------------------------------------
    async def cost(request: Request) -> HTMLResponse:
        report = await run_in_threadpool(operations.cost, console)
        return console.render("cost.html", report=report, page="cost")

    # --- batch, fine-tuning, endpoints ------------------------------------------------------------------
    async def batch(request: Request) -> HTMLResponse:
        jobs = await run_in_threadpool(operations.batch_jobs, console)
        return console.render("batch.html", jobs=jobs, page="batch")

    async def finetune(request: Request) -> HTMLResponse:
        runs = await run_in_threadpool(operations.finetune_runs, console)
        return console.render("finetune.html", runs=runs, page="finetune")

    async def endpoints(request: Request) -> HTMLResponse:
        report = await run_in_threadpool(operations.endpoints, console, "status")
        return console.render("endpoints.html", report=report, page="endpoints")

    async def endpoint_action(request: Request) -> HTMLResponse:
        action = request.path_params["action"]
        report = await run_in_threadpool(operations.endpoints, console, action)
        return console.render("_endpoints.html", report=report)

    return [
        Route("/", documents), Route("/upload", upload, methods=["POST"]),
        Route("/events", events),
        Route("/documents/{doc_id}", document),
        Route("/documents/{doc_id}/delete", delete, methods=["POST"]),
        Route("/documents/{doc_id}/reprocess", reprocess, methods=["POST"]),
        Route("/documents/{doc_id}/states/{key}", state_detail),
        Route("/documents/{doc_id}/outputs/{name}", output),
        Route("/documents/{doc_id}/pages/{page:int}.png", page_image),
        Route("/ask", ask_page), Route("/ask", ask, methods=["POST"]),
        Route("/cost", cost), Route("/batch", batch), Route("/finetune", finetune), Route("/endpoints", endpoints),
        Route("/endpoints/{action:str}", endpoint_action, methods=["POST"]),
    ]


def _has_history(console, row) -> bool:
    try:
        console.runtime.sfn.describe_execution(executionArn=row.execution)
        return True
    except console.runtime.sfn.exceptions.ExecutionDoesNotExist:
        return False


_TYPES = {"mp3": "audio/mpeg", "ogg": "audio/ogg", "md": "text/plain; charset=utf-8", "json": "application/json",
          "txt": "text/plain; charset=utf-8"}


def _media_type(name: str) -> str:
    return _TYPES.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")
