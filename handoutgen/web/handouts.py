"""The handouts area of the web page: choosing a clinic, one patient's form, its preview, print and
download, and each clinic's logo and colours."""

from __future__ import annotations

import base64
import mimetypes

from flask import Blueprint, Response, redirect, render_template, request, send_file, url_for
from werkzeug.wrappers import Response as BaseResponse

from ..emit.finish import printable
from ..errors import HandoutError
from ..runs import naming
from . import sending, state
from .form import form_page, treatments_of
from .handout import Choice, page_names
from .theme import theme_for

blueprint = Blueprint("handouts", __name__)
ACTIONS = ("preview", "print", "download", "email")  # emailing is the email area's (sending.py)
@blueprint.get("/")
def home() -> BaseResponse | str:
    clinics = state.clinics()
    if len(clinics) == 1:
        return redirect(url_for("handouts.handout", clinic_id=clinics[0]))
    library = state.library()
    return render_template("clinics.html", theme=None,
                           clinics=[(cid, library.clinics[cid].clinic) for cid in clinics])


@blueprint.get("/c/<clinic_id>/logo")
def logo(clinic_id: str) -> Response:
    path = state.library().clinics[state.clinic_or_404(clinic_id)].logo
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    response = send_file(path, mimetype=kind, max_age=300)
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    return response


@blueprint.get("/c/<clinic_id>/theme.css")
def theme_css(clinic_id: str) -> Response:
    css = theme_for(state.library().clinics[state.clinic_or_404(clinic_id)]).css()
    return Response(css, mimetype="text/css", headers={"Cache-Control": "max-age=300"})


@blueprint.get("/c/<clinic_id>/")
def handout(clinic_id: str) -> tuple[str, int]:
    state.clinic_or_404(clinic_id)
    library = state.library()
    entry = library.clinics[clinic_id]
    first = treatments_of(clinic_id)[0]
    chosen = tuple(k for k, decl in library.registry.kinds.items() if decl.web.chosen)
    choice = Choice(clinic_id, first, library.offered(clinic_id, first)[0], chosen, entry.clinic.paper)
    return form_page(clinic_id, choice)


@blueprint.post("/c/<clinic_id>/")
def make(clinic_id: str) -> BaseResponse | tuple[str, int]:
    state.clinic_or_404(clinic_id)
    action = request.form.get("action", "preview")
    if action not in ACTIONS:
        action = "preview"
    if action == "email":  # the form's own button posts to the email area; this is the same
        return sending.send_form(clinic_id)
    engine, library = state.engine(), state.library()
    choice, findings, requests = engine.read(clinic_id, request.form, request.form.getlist("documents"),
                                             action)
    if findings:
        return form_page(clinic_id, choice, findings, status=422)
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
