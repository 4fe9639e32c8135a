"""The operator's partner organisations, partner users, API keys and moderator grants (pages and
JSON API), the partner's own account (API), and the moderation hub."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, get, post
from litestar.exceptions import (
    ClientException,
    NotAuthorizedException,
    NotFoundException,
    ValidationException,
)
from litestar.response import Redirect, Response, Template
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.accounts import domain, operator
from services.gateway.accounts.domain import AccountError
from services.gateway.accounts.http import MAX_FIELD, NO_STORE, page, read_form
from services.gateway.accounts.identity import (
    User,
    current_user,
    login_redirect,
    require_role,
)
from services.gateway.partners.auth import require_scope
from services.gateway.partners.keys import ApiKey

# --------------------------------------------------------------------------- operator: JSON API

OPERATOR = [require_role("operator")]


class OrgIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: str = Field(min_length=1, max_length=64, description="the source slug the crawler and ingest use")
    name: str = Field(min_length=1, max_length=200)


class EmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=254)


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scopes: list[str] = Field(default_factory=lambda: ["ingest"], min_length=1, max_length=2)
    label: str | None = Field(None, max_length=100)


class _Api:
    """Maps operator errors to HTTP answers."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, AccountError):
            raise ValidationException(exc.message) from None
        if isinstance(exc, operator.NotFound):
            raise NotFoundException("not found") from None
        if isinstance(exc, operator.Conflict):
            raise ClientException(str(exc), status_code=409) from None
        return False


async def _actor(request: Request) -> int:
    user = await current_user(request)
    if user is None:
        raise NotAuthorizedException("login required")
    return user.id


@get("/api/v1/operator/partners", cache_control=NO_STORE, guards=OPERATOR, summary="Partner organisations (operators)")
async def api_orgs(request: Request) -> dict[str, Any]:
    orgs = await operator.list_orgs(request.app.state.engine)
    return {"total": len(orgs), "partners": orgs}


@post("/api/v1/operator/partners", guards=OPERATOR, status_code=201,
      summary="Create a partner organisation; its slug is the source it may push (operators)")
async def api_create_org(request: Request, data: OrgIn) -> dict[str, Any]:
    with _Api():
        return await operator.create_org(request.app.state.engine, await _actor(request), data.slug, data.name)


@get("/api/v1/operator/partners/{slug:str}", cache_control=NO_STORE, guards=OPERATOR, summary="A partner organisation, its users and keys")
async def api_org(request: Request, slug: str) -> dict[str, Any]:
    with _Api():
        return await operator.org_detail(request.app.state.engine, slug)


@post("/api/v1/operator/partners/{slug:str}/users", guards=OPERATOR, status_code=200,
      summary="Attach an existing account to a partner organisation (operators)")
async def api_attach(request: Request, slug: str, data: EmailIn) -> dict[str, Any]:
    with _Api():
        return await operator.attach_user(request.app.state.engine, await _actor(request), slug, data.email)


@post("/api/v1/operator/partners/{slug:str}/users/{user_id:int}/detach", guards=OPERATOR, status_code=200,
      summary="Detach a partner user (operators)")
async def api_detach(request: Request, slug: str, user_id: int) -> dict[str, Any]:
    with _Api():
        await operator.detach_user(request.app.state.engine, await _actor(request), slug, user_id)
    return {"detached": user_id}


@post("/api/v1/operator/partners/{slug:str}/keys", guards=OPERATOR, status_code=201,
      summary="Issue an API key (scopes ingest, read); the key is in this answer only (operators)")
async def api_issue_key(request: Request, slug: str, data: KeyIn) -> Response:
    with _Api():
        out = await operator.issue_key(request.app.state.engine, await _actor(request), slug, data.scopes, data.label)
    return Response(out, status_code=201, headers={"cache-control": "no-store"})


@post("/api/v1/operator/partners/{slug:str}/keys/{key_id:int}/revoke", guards=OPERATOR, status_code=200,
      summary="Revoke an API key (operators)")
async def api_revoke_key(request: Request, slug: str, key_id: int) -> dict[str, Any]:
    with _Api():
        await operator.revoke_key(request.app.state.engine, await _actor(request), slug, key_id)
    return {"revoked": key_id}


@get("/api/v1/operator/moderators", cache_control=NO_STORE, guards=OPERATOR, summary="Accounts with the moderator role (operators)")
async def api_moderators(request: Request) -> dict[str, Any]:
    return {"moderators": await operator.list_moderators(request.app.state.engine)}


@post("/api/v1/operator/moderators", guards=OPERATOR, status_code=200, summary="Grant the moderator role (operators)")
async def api_grant_moderator(request: Request, data: EmailIn) -> dict[str, Any]:
    with _Api():
        return await operator.grant_moderator(request.app.state.engine, await _actor(request), data.email)


@post("/api/v1/operator/moderators/{user_id:int}/revoke", guards=OPERATOR, status_code=200,
      summary="Withdraw the moderator role (operators)")
async def api_revoke_moderator(request: Request, user_id: int) -> dict[str, Any]:
    with _Api():
        await operator.revoke_moderator(request.app.state.engine, await _actor(request), user_id)
    return {"revoked": user_id}


@get("/api/v1/partner/me", cache_control=NO_STORE, guards=[require_scope("read")],
     summary="The organisation of the presented API key (read scope): name and keys by prefix")
async def api_partner_self(request: Request) -> dict[str, Any]:
    key: ApiKey = request.state.api_key
    try:
        detail = await operator.org_detail(request.app.state.engine, key.partner)
    except operator.NotFound:
        return {"slug": key.partner, "name": None, "keys": []}
    return {"slug": detail["slug"], "name": detail["name"],
            "keys": [k for k in detail["keys"] if k["revoked_at"] is None]}


# --------------------------------------------------------------------------- operator: pages


async def _staff(request: Request, role: str) -> tuple[User | None, Response | None]:
    """(user, None) when the user has ``role``; else (None, a login redirect or a 403 page)."""
    user = await current_user(request)
    if user is None:
        return None, login_redirect(request)
    if not user.has(role):
        return None, page("message", 403, title="Accès refusé",
                           message="Cette page est réservée à l'équipe de Carrefour.", link=("/", "Accueil"))
    return user, None


def _not_found() -> Template:
    return page("message", 404, title="Introuvable", message="Cette organisation ou cet élément n'existe pas.",
                 link=("/operateur/partenaires", "Partenaires"))


@get("/operateur/partenaires", media_type=MediaType.HTML, include_in_schema=False)
async def orgs_page(request: Request) -> Response:
    user, denied = await _staff(request, "operator")
    if denied:
        return denied
    return page("operator_orgs", orgs=await operator.list_orgs(request.app.state.engine), form={}, errors={})


@post("/operateur/partenaires", media_type=MediaType.HTML, include_in_schema=False)
async def orgs_create(request: Request) -> Response:
    user, denied = await _staff(request, "operator")
    if denied:
        return denied
    form = await read_form(request)
    try:
        org = await operator.create_org(request.app.state.engine, user.id, form.get("slug", ""), form.get("name", ""))
    except (AccountError, operator.Conflict) as exc:
        errors = {exc.field: exc.message} if isinstance(exc, AccountError) else {"slug": str(exc)}
        return page("operator_orgs", 400, orgs=await operator.list_orgs(request.app.state.engine), form=form,
                     errors=errors)
    return Redirect(f"/operateur/partenaires/{org['slug']}", status_code=303)


async def _org_page(request: Request, slug: str, status: int = 200, **extra: Any) -> Template:
    try:
        org = await operator.org_detail(request.app.state.engine, slug)
    except operator.NotFound:
        return _not_found()
    context = {"org": org, "errors": {}, "new_key": None, "scopes": domain.ISSUABLE_SCOPES, "done": None}
    context.update(extra)
    return page("operator_org", status, **context)


@get("/operateur/partenaires/{slug:str}", media_type=MediaType.HTML, include_in_schema=False)
async def org_page(request: Request, slug: str, ok: str | None = None) -> Response:
    user, denied = await _staff(request, "operator")
    if denied:
        return denied
    return await _org_page(request, slug, done=ok)


async def _org_action(request: Request, slug: str, action) -> Response:
    user, denied = await _staff(request, "operator")
    if denied:
        return denied
    try:
        done = await action(user)
    except AccountError as exc:
        return await _org_page(request, slug, 400, errors={exc.field: exc.message})
    except operator.NotFound:
        return _not_found()
    if isinstance(done, Response):
        return done
    return Redirect(f"/operateur/partenaires/{slug}?ok={done}", status_code=303)


@post("/operateur/partenaires/{slug:str}/utilisateurs", media_type=MediaType.HTML, include_in_schema=False)
async def org_attach(request: Request, slug: str) -> Response:
    form = await read_form(request)

    async def action(user: User) -> str:
        await operator.attach_user(request.app.state.engine, user.id, slug, form.get("email", ""))
        return "utilisateur"

    return await _org_action(request, slug, action)


@post("/operateur/partenaires/{slug:str}/utilisateurs/{user_id:int}/retirer", media_type=MediaType.HTML,
      include_in_schema=False)
async def org_detach(request: Request, slug: str, user_id: int) -> Response:
    async def action(user: User) -> str:
        await operator.detach_user(request.app.state.engine, user.id, slug, user_id)
        return "retire"

    return await _org_action(request, slug, action)


@post("/operateur/partenaires/{slug:str}/cles", media_type=MediaType.HTML, include_in_schema=False)
async def org_issue_key(request: Request, slug: str) -> Response:
    raw = await request.form()
    scopes = [s for s in raw.getall("scopes", []) if isinstance(s, str)][:5]
    label = raw.get("label") if isinstance(raw.get("label"), str) else None

    async def action(user: User) -> Response:
        issued = await operator.issue_key(request.app.state.engine, user.id, slug, scopes, (label or "")[:MAX_FIELD])
        page = await _org_page(request, slug, new_key=issued)
        return page  # shown once: not a redirect, never in a URL

    return await _org_action(request, slug, action)


@post("/operateur/partenaires/{slug:str}/cles/{key_id:int}/revoquer", media_type=MediaType.HTML,
      include_in_schema=False)
async def org_revoke_key(request: Request, slug: str, key_id: int) -> Response:
    async def action(user: User) -> str:
        await operator.revoke_key(request.app.state.engine, user.id, slug, key_id)
        return "revoquee"

    return await _org_action(request, slug, action)


@get("/operateur/moderateurs", media_type=MediaType.HTML, include_in_schema=False)
async def moderators_page(request: Request, ok: str | None = None) -> Response:
    user, denied = await _staff(request, "operator")
    if denied:
        return denied
    return page("operator_moderators", moderators=await operator.list_moderators(request.app.state.engine),
                 errors={}, email="", done=ok)


@post("/operateur/moderateurs", media_type=MediaType.HTML, include_in_schema=False)
async def moderators_grant(request: Request) -> Response:
    user, denied = await _staff(request, "operator")
    if denied:
        return denied
    form = await read_form(request)
    try:
        await operator.grant_moderator(request.app.state.engine, user.id, form.get("email", ""))
    except AccountError as exc:
        return page("operator_moderators", 400, moderators=await operator.list_moderators(request.app.state.engine),
                     errors={exc.field: exc.message}, email=form.get("email", ""), done=None)
    return Redirect("/operateur/moderateurs?ok=ajoute", status_code=303)


@post("/operateur/moderateurs/{user_id:int}/retirer", media_type=MediaType.HTML, include_in_schema=False)
async def moderators_revoke(request: Request, user_id: int) -> Response:
    user, denied = await _staff(request, "operator")
    if denied:
        return denied
    try:
        await operator.revoke_moderator(request.app.state.engine, user.id, user_id)
    except operator.NotFound:
        return page("message", 404, title="Introuvable", message="Ce compte n'est pas modérateur.",
                     link=("/operateur/moderateurs", "Modérateurs"))
    return Redirect("/operateur/moderateurs?ok=retire", status_code=303)


@get("/moderation", media_type=MediaType.HTML, include_in_schema=False)
async def moderation_hub(request: Request) -> Response:
    user, denied = await _staff(request, "moderator")
    if denied:
        return denied
    return page("moderation")

routes = [api_orgs, api_create_org, api_org, api_attach, api_detach, api_issue_key, api_revoke_key, api_moderators,
          api_grant_moderator, api_revoke_moderator, api_partner_self,
          orgs_page, orgs_create, org_page, org_attach, org_detach, org_issue_key, org_revoke_key,
          moderators_page, moderators_grant, moderators_revoke, moderation_hub]
