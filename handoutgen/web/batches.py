"""The batches area of the web page: upload an appointment list, follow its progress, download its
files once."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, send_file, url_for
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from ..errors import HandoutError
from ..runs import naming
from . import state
from .handout import readable

blueprint = Blueprint("batches", __name__)


def batch_page(messages: list[str], status: int) -> tuple[str, int]:
    """The upload form, with what was wrong with the last upload."""
    settings = state.settings()
    registry = state.library().registry
    kinds = [(kind, decl.web.label, decl.csv) for kind, decl in registry.kinds.items()]
    return render_template("batch.html", theme=state.page_theme(settings.clinic), problems=messages,
                           max_rows=settings.max_rows, max_mb=settings.max_upload_bytes / 1024 / 1024,
                           columns=registry.column_docs(), kinds=kinds), status


def row_message(line: int, column: str, text: str) -> str:
    """A problem with an uploaded file, by line and column."""
    return f"Line {line}, {column}: {text}" if not column.startswith("(") else f"Line {line}: {text}"


def own_job(job_id: str) -> Any:
    """A batch of this session's; any other answers 404."""
    job = state.jobs().get(job_id, state.owner())
    if job is None:
        abort(404, "This batch is not here any more: its files are deleted once they are "
                   "downloaded, and after a while.")
    return job


@blueprint.get("/batch")
def form() -> tuple[str, int]:
    return batch_page([], 200)


@blueprint.post("/batch")
def upload() -> BaseResponse | tuple[str, int]:
    sent = request.files.get("appointments")
    if sent is None or not sent.filename:
        return batch_page(["Choose the appointments file (CSV or Excel) to upload."], 422)
    try:
        job = state.jobs().start(state.owner(), sent.read(), request.form.get("packet") == "yes",
                                 request.form.get("duplex") == "yes", state.settings().max_rows,
                                 large_print=request.form.get("large_print") == "yes")
    except HandoutError as err:
        return batch_page([row_message(p.line, p.path, readable(p)) for p in err.problems], 422)
    return redirect(url_for("batches.job", job_id=job.id), code=303)


@blueprint.get("/batch/<job_id>")
def job(job_id: str) -> tuple[str, int]:
    found = own_job(job_id)
    return render_template("batch_job.html", theme=state.page_theme(state.settings().clinic), job=found,
                           status=found.status()), 200


@blueprint.get("/batch/<job_id>/status")
def status(job_id: str) -> Response:
    return jsonify(own_job(job_id).status())


@blueprint.post("/batch/<job_id>/download")
def download(job_id: str) -> Response:
    found = own_job(job_id)
    if found.status()["state"] == "running":
        abort(409, "The batch is still running.")
    state.jobs().forget(found)  # one download only
    try:
        handle = found.archive().open("rb")
    finally:
        found.remove()  # the open file stays readable; nothing is left on disk once it is sent
    return send_file(handle, mimetype="application/zip", as_attachment=True,
                     download_name=naming.archive(found.id))


@blueprint.app_errorhandler(RequestEntityTooLarge)
def too_large(err: RequestEntityTooLarge) -> tuple[str, int]:
    limit = state.settings().max_upload_bytes / 1024 / 1024
    return batch_page([f"The file is larger than {limit:g} MB. Split the appointment list into "
                       "smaller files and upload them one by one."], 413)
