"""One patient's form, shown again with what was chosen, its problems, preview or sending outcome
(by the handouts and the email areas)."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template

from . import state
from .handout import PAPERS, Choice, Findings

TITLES = {"documents": "Documents", "treatment": "Treatment", "language": "Language", "paper": "Paper size",
          "email": "Email address", "appointment_id": "Appointment number"}
LANGUAGE_NAMES = {"en": "English", "es": "Español", "fr": "Français", "de": "Deutsch", "it": "Italiano",
                  "pt": "Português", "pl": "Polski", "vi": "Tiếng Việt", "nl": "Nederlands"}


def treatments_of(clinic_id: str) -> list[str]:
    """The treatments a clinic hands out in at least one of its languages."""
    library = state.library()
    found = [t for t in sorted(library.treatments) if library.offered(clinic_id, t)]
    if not found:
        abort(404, "This clinic hands out no treatment in its languages yet.")
    return found


def form_page(clinic_id: str, choice: Choice, findings: Findings | None = None,
              pages: list[tuple[str, str]] | None = None, sent: Any = None,
              status: int = 200) -> tuple[str, int]:
    """One patient's form, as chosen, with its problems, preview or sending outcome."""
    library = state.library()
    entry = library.clinics[clinic_id]
    offered = treatments_of(clinic_id)
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
        "handout.html", theme=state.page_theme(clinic_id), clinic=entry.clinic, choice=choice,
        findings=findings or Findings(), pages=pages or [], sent=sent, fields=fields,
        kinds=[(k, decl.web.label) for k, decl in registry.kinds.items()], treatments=treatments,
        languages=languages, papers=PAPERS, mail=entry.clinic.mail,
        titles={**TITLES, **{name: spec.web.label for name, spec in registry.fields.items()}},
        language_names=LANGUAGE_NAMES), status


