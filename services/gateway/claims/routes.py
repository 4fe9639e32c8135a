"""Project claims and the fields a verified holder edits: French pages and the JSON API.

A logged-in, verified account claims a project. When the partners publish a contact e-mail for
it, a single-use confirmation link goes there; in every case a partner user of one of the
project's sources, or an operator, may approve or reject the claim. The holder then edits the
holder-owned fields (summary, description, website, stage, themes, and a private contact e-mail
for the contact form); each save is published as ``HolderEditChanged`` and the indexer lays it
over the canonical project. Logic in ``services.gateway.claims`` (domain, store, service)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Request, get, post, put
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.params import Parameter
from litestar.response import Redirect, Response, Template
from pydantic import BaseModel, ConfigDict, Field

from libs.contracts.taxonomy import taxonomy
from services.gateway.accounts.identity import (
    User,
    current_user,
    login_redirect,
    require_login,
    require_role,
)
from services.gateway.claims import domain, service
from services.gateway.claims.service import ClaimError

PROJECT_ID = r"^[a-z0-9][a-z0-9-]{0,100}$"
MAX_FIELD = 12_000
NO_STORE = {"cache-control": "no-store"}
REVIEWERS = [require_role("partner", "operator")]


# --------------------------------------------------------------------------- helpers


def _state(request: Request):
    return request.app.state


def _base_url(request: Request) -> str:
    cfg = getattr(_state(request), "settings", None)
    return (getattr(cfg, "public_base_url", None) or str(request.base_url)).rstrip("/")


async def _user(request: Request) -> User:
    user = await current_user(request)
    if user is None:
        raise NotAuthorizedException("login required")
    return user


def _api_error(exc: ClaimError) -> HTTPException:
    extra = {"errors": exc.errors} if exc.errors else None
    return HTTPException(status_code=exc.status, detail=exc.message, extra=extra)


def _page(name: str, status: int = 200, **context: Any) -> Template:
    return Template(f"claims/{name}.html", context=context, status_code=status, headers=NO_STORE)


def _message(title: str, message: str, status: int = 200, link: tuple[str, str] | None = None) -> Template:
    return _page("message", status, title=title, message=message, link=link)


async def _form(request: Request) -> dict[str, Any]:
    """Form values, bounded: ``themes`` as a list, every other field a single string."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        if key == "themes":
            out[key] = [v for v in form.getall(key) if isinstance(v, str) and len(v) <= 100][:50]
        else:
            value = form.get(key)
            out[key] = value if isinstance(value, str) and len(value) <= MAX_FIELD else ""
    return out


def _choices() -> dict[str, list[tuple[str, str]]]:
    tax = taxonomy()
    return {"stage": [(t.slug, t.label) for t in tax.terms("stage")],
            "theme": [(t.slug, t.label) for t in tax.terms("theme")]}


async def project_holder(request: Request, project_id: str) -> dict[str, Any]:
    """Context of the project page's holder block (``claim=`` in app.py's project_page)."""
    return await service.holder_context(_state(request).engine, await current_user(request), project_id)


# --------------------------------------------------------------------------- JSON API


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: Annotated[str, Field(pattern=PROJECT_ID, max_length=101)]
    message: Annotated[str | None, Field(max_length=domain.MAX_MESSAGE)] = None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str | None, Field(max_length=domain.MAX_REASON)] = None


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Annotated[str, Field(min_length=1, max_length=100)]


class HolderEditsIn(BaseModel):
    """Every field optional; empty or null = the partners' value."""

    model_config = ConfigDict(extra="forbid")
    summary: Annotated[str | None, Field(max_length=MAX_FIELD)] = None
    description: Annotated[str | None, Field(max_length=MAX_FIELD)] = None
    website: Annotated[str | None, Field(max_length=MAX_FIELD)] = None
    stage: Annotated[str | None, Field(max_length=100)] = None
    themes: Annotated[list[Annotated[str, Field(max_length=100)]] | None, Field(max_length=50)] = None
    contact_email: Annotated[str | None, Field(max_length=MAX_FIELD)] = None


@post("/api/v1/claims", guards=[require_login], status_code=201,
      summary="Claim a project (logged-in, verified account); a confirmation link goes to its published contact")
async def api_claim(request: Request, data: ClaimIn) -> dict[str, Any]:
    user = await _user(request)
    state = _state(request)
    try:
        started = await service.start_claim(state.engine, state.mailer, state.search, _base_url(request), user,
                                            data.project_id, data.message)
    except ClaimError as exc:
        raise _api_error(exc) from None
    return {"id": started.claim_id, "project_id": data.project_id, "status": "pending",
            "confirmation_sent_to": started.confirmation_sent_to}


@get("/api/v1/claims", guards=[require_login], summary="My claims and the projects I hold")
async def api_my_claims(request: Request) -> Response:
    return Response(await service.mine(_state(request).engine, await _user(request)), headers=NO_STORE)


@get("/api/v1/claims/pending", guards=REVIEWERS,
     summary="Pending claims I may decide (partner users: their projects; operators: all)")
async def api_pending(request: Request) -> Response:
    claims = await service.pending_for(_state(request).engine, await _user(request))
    return Response({"claims": claims}, headers=NO_STORE)


async def _api_review(request: Request, claim_id: int, data: DecisionIn | None, approve: bool) -> dict[str, Any]:
    state = _state(request)
    try:
        row = await service.review(state.engine, state.mailer, state.search, _base_url(request),
                                   await _user(request), claim_id, approve=approve,
                                   reason=data.reason if data else None)
    except ClaimError as exc:
        raise _api_error(exc) from None
    return {"id": row.id, "project_id": row.project_id, "status": "approved" if approve else "rejected"}


@post("/api/v1/claims/{claim_id:int}/approve", guards=[require_login], status_code=200,
      summary="Approve a claim (partner user of one of the project's sources, or operator)")
async def api_approve(request: Request, claim_id: int, data: DecisionIn | None = None) -> dict[str, Any]:
    return await _api_review(request, claim_id, data, True)


@post("/api/v1/claims/{claim_id:int}/reject", guards=[require_login], status_code=200,
      summary="Reject a claim (partner user of one of the project's sources, or operator)")
async def api_reject(request: Request, claim_id: int, data: DecisionIn | None = None) -> dict[str, Any]:
    return await _api_review(request, claim_id, data, False)


@post("/api/v1/claims/{claim_id:int}/withdraw", guards=[require_login], status_code=200,
      summary="Withdraw my pending claim")
async def api_withdraw(request: Request, claim_id: int) -> dict[str, Any]:
    try:
        await service.withdraw(_state(request).engine, await _user(request), claim_id)
    except ClaimError as exc:
        raise _api_error(exc) from None
    return {"id": claim_id, "status": "withdrawn"}


@post("/api/v1/claims/confirm", status_code=200,
      summary="Confirm a claim with the token e-mailed to the project's published contact")
async def api_confirm(request: Request, data: ConfirmIn) -> dict[str, Any]:
    state = _state(request)
    try:
        row = await service.confirm_by_email(state.engine, state.mailer, _base_url(request), data.token)
    except ClaimError as exc:
        raise _api_error(exc) from None
    return {"id": row.id, "project_id": row.project_id, "status": "approved"}


@get("/api/v1/projects/{project_id:str}/holder-edits", guards=[require_login],
     summary="What the project's holder set (holder only)")
async def api_get_edits(request: Request, project_id: str) -> Response:
    try:
        body = await service.current_edits(_state(request).engine, await _user(request), project_id)
    except ClaimError as exc:
        raise _api_error(exc) from None
    return Response(body, headers=NO_STORE)


@put("/api/v1/projects/{project_id:str}/holder-edits", guards=[require_login], status_code=200,
     summary="Set the holder-owned fields (holder only); null or empty = the partners' value")
async def api_put_edits(request: Request, project_id: str, data: HolderEditsIn) -> dict[str, Any]:
    state = _state(request)
    try:
        return await service.save_edits(state.engine, state.broker, await _user(request), project_id,
                                        data.model_dump())
    except ClaimError as exc:
        raise _api_error(exc) from None


@post("/api/v1/projects/{project_id:str}/holder/revoke", guards=[require_role("operator")], status_code=200,
      summary="End a project's holding and withdraw the holder's fields (operator)")
async def api_revoke(request: Request, project_id: str, data: DecisionIn | None = None) -> dict[str, Any]:
    state = _state(request)
    try:
        return await service.revoke(state.engine, state.broker, await _user(request), project_id,
                                    data.reason if data else None)
    except ClaimError as exc:
        raise _api_error(exc) from None


# --------------------------------------------------------------------------- pages


async def _doc_or_404(request: Request, project_id: str) -> dict[str, Any] | None:
    try:
        return await service.project_doc(_state(request).search, project_id)
    except ClaimError:
        return None


async def _user_and_doc(request: Request, project_id: str) -> tuple[Any, dict[str, Any]] | Response:
    """The logged-in user and the project's document; else the login redirect, or the 404 page."""
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    doc = await _doc_or_404(request, project_id)
    return _not_found() if doc is None else (user, doc)


def _not_found() -> Template:
    return _message("Projet introuvable", "Ce projet n'existe pas ou n'est plus publié.", 404, ("/", "Rechercher"))


async def _claim_form(request: Request, project_id: str, doc: dict[str, Any], user, status: int = 200,
                      message: str = "", errors: dict[str, str] | None = None) -> Template:
    holder = await project_holder(request, project_id)
    return _page("claim", status, doc=doc, holder=holder, contact=domain.published_contact(doc) is not None,
                 user=user, message=message, errors=errors or {})


def _edit_refused(message: str, status: int, project_id: str) -> Template:
    return _message("Modification impossible", message, status, (f"/projets/{project_id}", "Voir le projet"))


@get("/projets/{project_id:str}/revendiquer", media_type=MediaType.HTML, include_in_schema=False)
async def claim_page(request: Request, project_id: str) -> Response:
    found = await _user_and_doc(request, project_id)
    if isinstance(found, Response):
        return found
    user, doc = found
    return await _claim_form(request, project_id, doc, user)


@post("/projets/{project_id:str}/revendiquer", media_type=MediaType.HTML, include_in_schema=False)
async def claim_submit(request: Request, project_id: str) -> Response:
    found = await _user_and_doc(request, project_id)
    if isinstance(found, Response):
        return found
    user, doc = found
    form = await _form(request)
    state = _state(request)
    try:
        started = await service.start_claim(state.engine, state.mailer, state.search, _base_url(request), user,
                                            project_id, form.get("message"))
    except ClaimError as exc:
        return await _claim_form(request, project_id, doc, user, exc.status, form.get("message", ""),
                                 {exc.field or "form": exc.message})
    return _page("claim_sent", doc=doc, sent_to=started.confirmation_sent_to)


@get("/revendications/confirmer", media_type=MediaType.HTML, include_in_schema=False)
async def confirm_page(request: Request, jeton: Annotated[str | None, Parameter(max_length=200)] = None) -> Template:
    if not domain.plausible_token(jeton or ""):
        return _message("Lien non valable", "Ce lien de confirmation est incomplet ou inconnu.", 400)
    try:
        row = await service.peek_token(_state(request).engine, jeton or "")
    except ClaimError as exc:
        return _message("Lien non valable", exc.message, exc.status)
    return _page("confirm", token=jeton, claim=row)


@post("/revendications/confirmer", media_type=MediaType.HTML, include_in_schema=False)
async def confirm_submit(request: Request) -> Template:
    form = await _form(request)
    state = _state(request)
    try:
        row = await service.confirm_by_email(state.engine, state.mailer, _base_url(request), form.get("token", ""))
    except ClaimError as exc:
        return _message("Confirmation impossible", exc.message, exc.status)
    return _message("Merci, c'est confirmé",
                    f"{row.user_name} gère désormais la fiche du projet « {row.project_title} » sur Carrefour.",
                    link=(f"/projets/{row.project_id}", "Voir le projet"))


@get("/revendications", media_type=MediaType.HTML, include_in_schema=False)
async def review_page(request: Request, fait: Annotated[str | None, Parameter(max_length=20)] = None) -> Response:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    if not (user.has("partner") or user.has("operator")):
        return _message("Accès réservé", "Cette page est réservée aux partenaires et aux opérateurs.", 403)
    claims = await service.pending_for(_state(request).engine, user)
    done = {"approuvee": "Demande acceptée.", "refusee": "Demande refusée."}.get(fait or "")
    return _page("review", claims=claims, done=done, error=None)


@post("/revendications/{claim_id:int}", media_type=MediaType.HTML, include_in_schema=False)
async def review_submit(request: Request, claim_id: int) -> Response:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    form = await _form(request)
    decision = form.get("decision")
    if decision not in ("approve", "reject"):
        return _message("Décision inconnue", "Choisissez « Accepter » ou « Refuser ».", 400,
                        ("/revendications", "Revenir aux demandes"))
    state = _state(request)
    try:
        await service.review(state.engine, state.mailer, state.search, _base_url(request), user, claim_id,
                             approve=decision == "approve", reason=form.get("reason"))
    except ClaimError as exc:
        if exc.status == 403 and not (user.has("partner") or user.has("operator")):
            return _message("Accès réservé", exc.message, 403)
        claims = await service.pending_for(state.engine, user) if (user.has("partner") or user.has("operator")) \
            else []
        return _page("review", exc.status, claims=claims, done=None, error=exc.message)
    return Redirect(f"/revendications?fait={'approuvee' if decision == 'approve' else 'refusee'}", status_code=303)


@get("/mes-projets", media_type=MediaType.HTML, include_in_schema=False)
async def my_projects_page(request: Request, retrait: Annotated[str | None, Parameter(max_length=10)] = None
                           ) -> Response:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    state = _state(request)
    mine = await service.mine(state.engine, user)
    projects = []
    for pid in mine["projects"]:
        doc = await state.search.get(pid)
        projects.append({"id": pid, "title": (doc or {}).get("title") or pid})
    return _page("mine", projects=projects, claims=mine["claims"],
                 done="Demande retirée." if retrait == "ok" else None)


@post("/mes-projets/demandes/{claim_id:int}/retrait", media_type=MediaType.HTML, include_in_schema=False)
async def withdraw_submit(request: Request, claim_id: int) -> Response:
    user = await current_user(request)
    if user is None:
        return login_redirect(request)
    try:
        await service.withdraw(_state(request).engine, user, claim_id)
    except ClaimError as exc:
        return _message("Retrait impossible", exc.message, exc.status, ("/mes-projets", "Mes projets"))
    return Redirect("/mes-projets?retrait=ok", status_code=303)


@get("/projets/{project_id:str}/modifier", media_type=MediaType.HTML, include_in_schema=False)
async def edit_page(request: Request, project_id: str) -> Response:
    found = await _user_and_doc(request, project_id)
    if isinstance(found, Response):
        return found
    user, doc = found
    try:
        current = await service.current_edits(_state(request).engine, user, project_id)
    except ClaimError as exc:
        return _edit_refused(exc.message, exc.status, project_id)
    values = dict(current["fields"].items())
    values["contact_email"] = current["contact_email"]
    return _page("edit", doc=doc, values=values, errors={}, saved=False, choices=_choices())


@post("/projets/{project_id:str}/modifier", media_type=MediaType.HTML, include_in_schema=False)
async def edit_submit(request: Request, project_id: str) -> Response:
    found = await _user_and_doc(request, project_id)
    if isinstance(found, Response):
        return found
    user, doc = found
    form = await _form(request)
    data = {k: form.get(k) for k in domain.EDITABLE_FIELDS if k in form}
    data.setdefault("themes", [])
    try:
        saved = await service.save_edits(_state(request).engine, _state(request).broker, user, project_id, data)
    except ClaimError as exc:
        if exc.status == 403:
            return _edit_refused(exc.message, 403, project_id)
        errors = exc.errors or {"form": exc.message}
        return _page("edit", exc.status, doc=doc, values=data, errors=errors, saved=False, choices=_choices())
    values = {**saved["fields"], "contact_email": saved["contact_email"]}
    return _page("edit", doc=doc, values=values, errors={}, saved=True, choices=_choices())


routes: list = [api_claim, api_my_claims, api_pending, api_approve, api_reject, api_withdraw, api_confirm,
                api_get_edits, api_put_edits, api_revoke, claim_page, claim_submit, confirm_page, confirm_submit,
                review_page, review_submit, my_projects_page, withdraw_submit, edit_page, edit_submit]
