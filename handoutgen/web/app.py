"""The Flask application: pages, forms and files. See the package docstring."""

from __future__ import annotations

import base64
import logging
import mimetypes
import threading
import traceback
from collections.abc import Callable
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from waitress.server import create_server
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from .. import naming
from ..errors import HandoutError
from ..library import Library
from . import security
from .batch import Jobs
from .config import Settings
from .handout import PAPERS, Choice, Engine, Findings, page_names, printable, readable
from .sending import send
from .theme import Theme, theme_for

log = logging.getLogger(__name__)
ACTIONS = ("preview", "print", "download", "email")
TITLES = {"documents": "Documents", "treatment": "Treatment", "language": "Language", "paper": "Paper size",
          "email": "Email address", "appointment_id": "Appointment number"}
LANGUAGE_NAMES = {"en": "English", "es": "Español", "fr": "Français", "de": "Deutsch", "it": "Italiano",
                  "pt": "Português", "pl": "Polski", "vi": "Tiếng Việt", "nl": "Nederlands"}
CONNECTIONS = 200  # open connections the server takes at once
IDLE_SECONDS = 30  # a connection with nothing to do is closed after this long
HEADER_SECONDS = 10  # a request's headers must arrive within this long


def create_app(settings: Settings, library: Library) -> Flask:
    """The web app around a library that is already loaded and checked."""
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_upload_bytes, MAX_FORM_MEMORY_SIZE=64 * 1024)
    token = security.install(app, settings)
    engine = Engine(library, settings.preview_dpi)
    jobs = Jobs(settings.root, settings.clinic, settings.jobs, settings.session_minutes * 60, settings.clock)
    app.extensions["handoutgen"] = {"engine": engine, "jobs": jobs, "settings": settings,
                                     "token": token}
    clinics = sorted(library.clinics) if settings.clinic is None else [settings.clinic]

    def clinic_or_404(clinic_id: str) -> str:
        if clinic_id not in clinics:
            abort(404, "There is no such clinic on this page.")
        return clinic_id

    def treatments_of(clinic_id: str) -> list[str]:
        """The treatments a clinic hands out in at least one of its languages."""
        found = [t for t in sorted(library.treatments) if library.offered(clinic_id, t)]
        if not found:
            abort(404, "This clinic hands out no treatment in its languages yet.")
        return found

    def owner() -> str:
        """Who may see a batch: the session that started it."""
        return security.session_token("sid")

    def page_theme(clinic_id: str | None) -> Theme | None:
        if clinic_id is None and len(clinics) == 1:
            clinic_id = clinics[0]
        return theme_for(library.clinics[clinic_id]) if clinic_id else None

    @app.context_processor
    def common() -> dict[str, Any]:
        return {"signed_in": bool(session.get("signed_in")), "protected": settings.password is not None,
                "several_clinics": len(clinics) > 1, "theme": page_theme(settings.clinic)}

    @app.get("/health")
    def health() -> Response:
        return jsonify(status="ok")

    @app.get("/")
    def home() -> BaseResponse | str:
        if len(clinics) == 1:
            return redirect(url_for("handout", clinic_id=clinics[0]))
        return render_template("clinics.html", theme=None,
                               clinics=[(cid, library.clinics[cid].clinic) for cid in clinics])

    @app.get("/c/<clinic_id>/logo")
    def logo(clinic_id: str) -> Response:
        path = library.clinics[clinic_or_404(clinic_id)].logo
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        response = send_file(path, mimetype=kind, max_age=300)
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
        return response

    @app.get("/c/<clinic_id>/theme.css")
    def theme_css(clinic_id: str) -> Response:
        css = theme_for(library.clinics[clinic_or_404(clinic_id)]).css()
        return Response(css, mimetype="text/css", headers={"Cache-Control": "max-age=300"})

    def form_page(clinic_id: str, choice: Choice, findings: Findings | None = None,
                  pages: list[tuple[str, str]] | None = None, sent: Any = None,
                  status: int = 200) -> tuple[str, int]:
        entry = library.clinics[clinic_id]
        offered = treatments_of(clinic_id)
        treatment_id = choice.treatment if choice.treatment in offered else offered[0]
        treatment = library.treatments[treatment_id]
        language = choice.language if choice.language in library.offered(clinic_id, treatment_id) else \
            library.offered(clinic_id, treatment_id)[0]
        content = treatment.languages[language]
        treatments = [(tid, library.treatments[tid].languages[
            library.offered(clinic_id, tid)[0]].facts.name) for tid in offered]
        languages = sorted({lang for tid, _ in treatments for lang in library.offered(clinic_id, tid)},
                           key=entry.clinic.languages.index)
        registry = library.registry
        fields = [{"name": name, "label": spec.web.label, "hint": spec.web.hint or "",
                   "type": spec.web_input, "kinds": registry.kinds_using(name),
                   "used_on": [registry.kinds[k].web.label for k in registry.kinds_using(name)]}
                  for name, spec in registry.fields.items()]
        return render_template(
            "handout.html", theme=page_theme(clinic_id), clinic=entry.clinic, choice=choice,
            findings=findings or Findings(), pages=pages or [], sent=sent, fields=fields,
            kinds=[(k, content.kinds[k].title) for k in registry.kinds], treatments=treatments,
            languages=languages, papers=PAPERS, mail=entry.clinic.mail,
            titles={**TITLES, **{name: spec.web.label for name, spec in registry.fields.items()}},
            language_names=LANGUAGE_NAMES), status

    @app.get("/c/<clinic_id>/")
    def handout(clinic_id: str) -> tuple[str, int]:
        clinic_or_404(clinic_id)
        entry = library.clinics[clinic_id]
        first = treatments_of(clinic_id)[0]
        chosen = tuple(k for k, decl in library.registry.kinds.items() if decl.web.chosen)
        choice = Choice(clinic_id, first, library.offered(clinic_id, first)[0], chosen, entry.clinic.paper)
        return form_page(clinic_id, choice)

    @app.post("/c/<clinic_id>/")
    def make(clinic_id: str) -> BaseResponse | tuple[str, int]:
        clinic_or_404(clinic_id)
        action = request.form.get("action", "preview")
        if action not in ACTIONS:
            action = "preview"
        choice, findings, requests = engine.read(clinic_id, request.form, request.form.getlist("documents"),
                                                 action)
        if findings:
            return form_page(clinic_id, choice, findings, status=422)
        if action == "email":
            sent = send(engine, choice, requests, settings.mail_folder)
            return form_page(clinic_id, choice, findings, sent=sent,
                             status=200 if sent.status in ("sent", "skipped") else 502)
        try:
            pdf = engine.pdf(requests, choice.paper, choice.duplex)
        except HandoutError as err:
            findings.take(err.problems, list(library.registry.fields))
            return form_page(clinic_id, choice, findings, status=422)
        name = naming.download(library, requests, choice.paper)
        if action == "preview":
            pages = [("data:image/png;base64," + base64.b64encode(png).decode(), alt) for png, alt in
                     zip(engine.pages(pdf), page_names(library, requests, pdf, choice.duplex), strict=True)]
            return form_page(clinic_id, choice, pages=pages)
        if action == "print":
            return Response(printable(pdf), mimetype="application/pdf",
                            headers={"Content-Disposition": f'inline; filename="{name}"'})
        return Response(pdf, mimetype="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/batch")
    def batch() -> tuple[str, int]:
        return render_template("batch.html", theme=page_theme(settings.clinic), problems=[],
                               max_rows=settings.max_rows,
                               max_mb=settings.max_upload_bytes / 1024 / 1024), 200

    def batch_error(messages: list[str], status: int) -> tuple[str, int]:
        return render_template("batch.html", theme=page_theme(settings.clinic), problems=messages,
                               max_rows=settings.max_rows,
                               max_mb=settings.max_upload_bytes / 1024 / 1024), status

    @app.post("/batch")
    def upload() -> BaseResponse | tuple[str, int]:
        upload = request.files.get("appointments")
        if upload is None or not upload.filename:
            return batch_error(["Choose the appointments file (CSV or Excel) to upload."], 422)
        try:
            job = jobs.start(owner(), upload.read(), request.form.get("packet") == "yes",
                             request.form.get("duplex") == "yes", settings.max_rows,
                             large_print=request.form.get("large_print") == "yes")
        except HandoutError as err:
            return batch_error([row_message(p.line, p.path, readable(p)) for p in err.problems], 422)
        return redirect(url_for("batch_job", job_id=job.id), code=303)

    def own_job(job_id: str) -> Any:
        job = jobs.get(job_id, owner())
        if job is None:
            abort(404, "This batch is not here any more: its files are deleted once they are "
                       "downloaded, and after a while.")
        return job

    @app.get("/batch/<job_id>")
    def batch_job(job_id: str) -> tuple[str, int]:
        job = own_job(job_id)
        return render_template("batch_job.html", theme=page_theme(settings.clinic), job=job,
                               status=job.status()), 200

    @app.get("/batch/<job_id>/status")
    def batch_status(job_id: str) -> Response:
        return jsonify(own_job(job_id).status())

    @app.post("/batch/<job_id>/download")
    def batch_download(job_id: str) -> Response:
        job = own_job(job_id)
        if job.status()["state"] == "running":
            abort(409, "The batch is still running.")
        jobs.forget(job)  # one download only
        try:
            handle = job.archive().open("rb")
        finally:
            job.remove()  # the open file stays readable; nothing is left on disk once it is sent
        return send_file(handle, mimetype="application/zip", as_attachment=True,
                         download_name=naming.archive(job.id))

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(err: RequestEntityTooLarge) -> tuple[str, int]:
        limit = settings.max_upload_bytes / 1024 / 1024
        return batch_error([f"The file is larger than {limit:g} MB. Split the appointment list into "
                            "smaller files and upload them one by one."], 413)

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> tuple[str, int]:
        return render_template("error.html", theme=page_theme(settings.clinic), code=err.code,
                               title=err.name, message=err.description), err.code or 500

    @app.errorhandler(Exception)
    def bug(err: Exception) -> tuple[str, int]:
        # The message of an unexpected error may hold patient values: log where it happened only.
        log.error("internal error in %s %s: %s\n%s", request.method, request.url_rule, type(err).__name__,
                  "".join(traceback.format_tb(err.__traceback__)))
        return render_template("error.html", theme=page_theme(settings.clinic), code=500,
                               title="Something went wrong",
                               message="The page could not do that. Nothing was sent or kept. Please "
                                       "try again; if it happens again, tell whoever looks after "
                                       "this computer (the details are in the server's window)."), 500

    return app


def row_message(line: int, column: str, text: str) -> str:
    """A problem with an uploaded file, by line and column."""
    return f"Line {line}, {column}: {text}" if not column.startswith("(") else f"Line {line}: {text}"


def close_slow_headers(server: Any) -> None:
    """Close connections whose request headers take longer than HEADER_SECONDS to arrive.

    A connection that sends a header line now and then counts as active, so the idle timeout never
    ends it, and a hundred of them would hold every connection the server takes."""
    started: dict[int, tuple[object, float]] = {}  # connection: the request being read, since when
    maintenance = server.maintenance

    def with_header_deadline(now: float) -> None:
        maintenance(now)
        seen: dict[int, tuple[object, float]] = {}
        for key, channel in list(server.active_channels.items()):
            request = channel.request
            if request is None or request.headers_finished:
                continue
            before = started.get(key)
            since = before[1] if before is not None and before[0] is request else now
            seen[key] = (request, since)
            if now - since > HEADER_SECONDS:
                channel.will_close = True
        started.clear()
        started.update(seen)

    server.maintenance = with_header_deadline


def make_server(settings: Settings, library: Library, port: int) -> tuple[Any, Callable[[], None]]:
    """A waitress server for the app (port 0 picks a free one), and a function that stops it."""
    app = create_app(settings, library)
    state = app.extensions["handoutgen"]
    if settings.warm:
        threading.Thread(target=state["engine"].warm, name="handoutgen-warm", daemon=True).start()
    stopping = threading.Event()

    def reap() -> None:  # batches nobody comes back for are deleted on time, not at the next visit
        while not stopping.wait(60):
            state["jobs"].reap()

    threading.Thread(target=reap, name="handoutgen-reap", daemon=True).start()
    # Proxy headers are passed to the app (never trusted for anything): it refuses proxied requests
    # when no password is set (security.py).
    server = create_server(app, host=settings.host, port=port, threads=4, ident="handoutgen",
                           max_request_body_size=4 * settings.max_upload_bytes,
                           clear_untrusted_proxy_headers=False, connection_limit=CONNECTIONS,
                           channel_timeout=IDLE_SECONDS, cleanup_interval=1)
    close_slow_headers(server)

    def stop() -> None:
        stopping.set()
        server.close()
        state["jobs"].close()

    return server, stop

