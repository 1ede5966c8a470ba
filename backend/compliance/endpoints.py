"""Compliance endpoints: platform accounts and channels, publications and reviews, status, reports."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response

from backend import errors
from backend.compliance import accounts, checks, monthly, publications, reports
from backend.compliance.export import MEDIA_TYPES, filename, render, status_document
from backend.compliance.fit import aspect_name
from backend.compliance.models import PlatformAccount, Publication, PublicationStatus, Report
from backend.compliance.schemas import (
    AccountCreate,
    AccountPublic,
    AccountUpdate,
    ChannelCreate,
    ChannelId,
    ChannelOpening,
    ChannelPublic,
    ChannelUpdate,
    CheckedChannel,
    EventPublic,
    PublicationCheck,
    PublicationCreate,
    PublicationPublic,
    PublicationUpdate,
    ReportPublic,
    Resubmission,
    SubmissionCheckPublic,
    Transition,
)
from backend.deps import Admin, Editor, SessionDep, StorageDep, Viewer
from backend.responses import answers, problems, serve_object
from backend.sqltypes import utcnow
from backend.text import Instant, IntId, Offset, Text

router = APIRouter(tags=["compliance"], responses=problems(401))

API = "/api/v1"
Format = Literal["json", "csv", "xlsx", "html"]


def _account_public(account: PlatformAccount, channels: list[Any]) -> AccountPublic:
    public = AccountPublic.model_validate(account)
    public.channels = [ChannelPublic.model_validate(c) for c in channels]
    return public


def _one_account(session: Any, account_id: uuid.UUID) -> AccountPublic:
    account = accounts.get_account(session, account_id)
    return _account_public(account, accounts.channels_of(session, [account_id])[account_id])


# --- accounts and channels ----------------------------------------------------------------------------


@router.post(
    f"{API}/accounts",
    status_code=201,
    response_model=AccountPublic,
    summary="Add a platform account (its channels come from the platform's rules)",
    responses=problems(400, 403, 409),
)
def create_account(body: AccountCreate, session: SessionDep, response: Response, _: Editor) -> AccountPublic:
    account = accounts.create_account(session, **body.model_dump())
    response.headers["Location"] = f"{API}/accounts/{account.id}"
    return _one_account(session, account.id)


@router.get(f"{API}/accounts", response_model=list[AccountPublic], summary="List platform accounts")
def list_accounts(
    session: SessionDep, _: Viewer, platform_id: Annotated[Text | None, Query(max_length=64)] = None
) -> list[AccountPublic]:
    found = accounts.list_accounts(session, platform_id)
    channels = accounts.channels_of(session, [a.id for a in found])
    return [_account_public(a, channels[a.id]) for a in found]


@router.get(f"{API}/accounts/{{account_id}}", response_model=AccountPublic, summary="One account", responses=problems(404))
def get_account(account_id: uuid.UUID, session: SessionDep, _: Viewer) -> AccountPublic:
    return _one_account(session, account_id)


@router.patch(
    f"{API}/accounts/{{account_id}}", response_model=AccountPublic, summary="Edit an account",
    responses=problems(400, 403, 404, 409),
)
def update_account(
    account_id: uuid.UUID, body: AccountUpdate, session: SessionDep, _: Editor
) -> AccountPublic:
    accounts.update_account(session, account_id, body.model_dump(exclude_unset=True))
    return _one_account(session, account_id)


@router.delete(
    f"{API}/accounts/{{account_id}}", status_code=204, summary="Delete an account without publications",
    responses=problems(403, 404, 409),
)
def delete_account(account_id: uuid.UUID, session: SessionDep, _: Admin) -> Response:
    accounts.delete_account(session, account_id)
    return Response(status_code=204)


@router.get(
    f"{API}/accounts/{{account_id}}/channels",
    response_model=list[ChannelPublic],
    summary="An account's channels",
    responses=problems(404),
)
def list_channels(account_id: uuid.UUID, session: SessionDep, _: Viewer) -> list[ChannelPublic]:
    return _one_account(session, account_id).channels


@router.post(
    f"{API}/accounts/{{account_id}}/channels",
    status_code=201,
    response_model=ChannelPublic,
    summary="Add a channel the platform's rules do not list",
    responses=problems(400, 403, 404, 409),
)
def add_channel(account_id: uuid.UUID, body: ChannelCreate, session: SessionDep, _: Editor) -> ChannelPublic:
    values = body.model_dump(exclude_unset=True, exclude={"channel_id"})
    values.setdefault("name_zh", body.name_zh)
    values.setdefault("name_en", body.name_en)
    return ChannelPublic.model_validate(accounts.add_channel(session, account_id, body.channel_id, values))


@router.patch(
    f"{API}/accounts/{{account_id}}/channels/{{channel_id}}",
    response_model=ChannelPublic,
    summary="Override a channel's rules, or open/close it by hand",
    responses=problems(400, 403, 404, 409),
)
def update_channel(
    account_id: uuid.UUID, channel_id: ChannelId, body: ChannelUpdate, session: SessionDep, key: Editor
) -> ChannelPublic:
    changes = body.model_dump(exclude_unset=True)
    return ChannelPublic.model_validate(
        accounts.update_channel(session, account_id, channel_id, changes, recorded_by=key.name)
    )


@router.post(
    f"{API}/accounts/{{account_id}}/channels/{{channel_id}}/opening",
    response_model=ChannelPublic,
    summary="Record that the platform opened the channel (date, who, note)",
    responses=problems(400, 403, 404, 409),
)
def record_opening(
    account_id: uuid.UUID, channel_id: ChannelId, body: ChannelOpening, session: SessionDep, key: Editor
) -> ChannelPublic:
    channel = accounts.record_opening(
        session,
        account_id,
        channel_id,
        opened_on=body.opened_on,
        opened_by=body.opened_by or key.name,
        note=body.note,
    )
    return ChannelPublic.model_validate(channel)


@router.post(
    f"{API}/accounts/{{account_id}}/channels/{{channel_id}}/reset",
    response_model=ChannelPublic,
    summary="Drop the account's rule overrides (back to the platform's rules)",
    responses=problems(403, 404, 409),
)
def reset_channel(account_id: uuid.UUID, channel_id: ChannelId, session: SessionDep, _: Editor) -> ChannelPublic:
    return ChannelPublic.model_validate(accounts.reset_channel(session, account_id, channel_id))


@router.delete(
    f"{API}/accounts/{{account_id}}/channels/{{channel_id}}",
    status_code=204,
    summary="Remove a channel without publications",
    responses=problems(403, 404, 409),
)
def delete_channel(account_id: uuid.UUID, channel_id: ChannelId, session: SessionDep, _: Editor) -> Response:
    accounts.delete_channel(session, account_id, channel_id)
    return Response(status_code=204)


# --- publications -------------------------------------------------------------------------------------


def _publication_public(session: Any, pubs: list[Publication]) -> list[PublicationPublic]:
    events = publications.events_of(session, [p.id for p in pubs])
    newer = publications.resubmissions_of(session, pubs)
    out = []
    for p in pubs:
        public = PublicationPublic.model_validate(p)
        public.events = [EventPublic.model_validate(e) for e in events[p.id]]
        public.resubmitted_as = newer.get(p.id)
        out.append(public)
    return out


@router.post(
    f"{API}/publications",
    status_code=201,
    response_model=PublicationPublic,
    summary="Record a submission (or import a reviewed one with its dates)",
    responses=problems(400, 403, 404, 409),
)
def create_publication(
    body: PublicationCreate, session: SessionDep, response: Response, key: Editor
) -> PublicationPublic:
    pub = publications.record_publication(session, publications.PublicationInput(**body.model_dump()), key.id)
    response.headers["Location"] = f"{API}/publications/{pub.id}"
    return _publication_public(session, [pub])[0]


@router.post(
    f"{API}/publications:check",
    response_model=SubmissionCheckPublic,
    summary="Check a submission before recording it (nothing is written)",
    description="The checks `POST /publications` runs on a submission (media type, aspect, duration, already "
    "approved or in review on the channel, itself or a copy), plus what would refuse it whatever is passed "
    "over (a deleted material; a post id the account already has) and what the platform may object to (no "
    "sound track where the platform's presets all carry one; a material not processed yet). Each finding has "
    "a stable `code` and its figures in `params`; `override` lists the checks to pass over (with "
    "`override_reason`) to record it. Unknown accounts, channels and materials answer the problems recording "
    "would.",
    responses=problems(400, 403, 404, 422),
)
def check_publication(body: PublicationCheck, session: SessionDep, _: Viewer) -> SubmissionCheckPublic:
    found = checks.check_before_submission(
        session, body.material_id, body.account_id, body.channel_id, body.platform_post_id
    )
    return _check_public(found)


def _check_public(found: checks.SubmissionCheck) -> SubmissionCheckPublic:
    m, c, facts = found.material, found.channel, checks.facts_of(found.material)
    findings = [
        {**vars(f), "params": dict(f.params), "type": checks.ERRORS[f.check].type_uri() if f.check else None}
        for f in found.findings
    ]
    return SubmissionCheckPublic.model_validate(
        {
            "verdict": found.verdict,
            "override": found.override,
            "findings": findings,
            "account_id": found.account.id,
            "timezone": found.account.timezone,
            "material": {
                "id": m.id,
                "title": m.title,
                "status": m.status,
                "media_type": m.media_type,
                "width": facts.width,
                "height": facts.height,
                "duration_s": m.duration_s,
                "has_audio": m.has_audio,
                "aspect": aspect_name(facts.width, facts.height) if facts.width and facts.height else None,
            },
            "channel": {
                **{k: getattr(c, k) for k in CheckedChannel.model_fields if k != "needs_audio"},
                "needs_audio": found.needs_audio,
            },
        }
    )


@router.get(
    f"{API}/publications", response_model=list[PublicationPublic], summary="List and filter publications"
)
def list_publications(
    session: SessionDep,
    _: Viewer,
    account_id: uuid.UUID | None = None,
    channel_id: Annotated[ChannelId | None, Query()] = None,
    status: PublicationStatus | None = None,
    material_id: uuid.UUID | None = None,
    submitted_from: Annotated[Instant | None, Query()] = None,
    submitted_before: Annotated[Instant | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[Offset, Query()] = 0,
) -> list[PublicationPublic]:
    pubs = publications.list_publications(
        session,
        publications.PublicationQuery(
            account_id=account_id,
            channel_id=channel_id,
            status=status,
            material_id=material_id,
            submitted_from=submitted_from,
            submitted_before=submitted_before,
            limit=limit,
            offset=offset,
        ),
    )
    return _publication_public(session, pubs)


@router.get(
    f"{API}/publications/{{publication_id}}",
    response_model=PublicationPublic,
    summary="One publication with its audit trail",
    responses=problems(404),
)
def get_publication(publication_id: uuid.UUID, session: SessionDep, _: Viewer) -> PublicationPublic:
    return _publication_public(session, [publications.get_publication(session, publication_id)])[0]


@router.patch(
    f"{API}/publications/{{publication_id}}",
    response_model=PublicationPublic,
    summary="Set the platform's post id and URL",
    responses=problems(400, 403, 404, 409),
)
def update_publication(
    publication_id: uuid.UUID, body: PublicationUpdate, session: SessionDep, _: Editor
) -> PublicationPublic:
    pub = publications.update_publication(session, publication_id, body.model_dump(exclude_unset=True))
    return _publication_public(session, [pub])[0]


def _transition(action: str):
    def handler(
        publication_id: uuid.UUID, body: Transition, session: SessionDep, key: Editor
    ) -> PublicationPublic:
        pub = publications.transition(
            session, publication_id, action, at=body.at, reason=body.reason, note=body.note, actor=key.id
        )
        return _publication_public(session, [pub])[0]

    return handler


for _action, _summary in (
    ("approve", "The platform approved it"),
    ("reject", "The platform rejected it (reason)"),
    ("withdraw", "Taken down or withdrawn (after approval too)"),
):
    router.add_api_route(
        f"{API}/publications/{{publication_id}}/{_action}",
        _transition(_action),
        methods=["POST"],
        response_model=PublicationPublic,
        summary=_summary,
        name=f"{_action}_publication",
        responses=problems(400, 403, 404, 409),
    )


@router.post(
    f"{API}/publications/{{publication_id}}/resubmit",
    status_code=201,
    response_model=PublicationPublic,
    summary="Submit a rejected or withdrawn material again (a new publication)",
    description="A new pending publication of the same material on the same account and channel, linked to "
    "the old one (`resubmission_of`; the old one's `resubmitted_as`). It is checked like any submission "
    "(pass warnings over with `override` and a reason) and counts toward the channel's quota once approved; "
    "the rejected one never counts. A publication is resubmitted once: again, 409 "
    "`publication-already-resubmitted` naming `resubmitted_as` (resubmit that one if it was turned down too).",
    responses=problems(400, 403, 404, 409, 422),
)
def resubmit(
    publication_id: uuid.UUID, body: Resubmission, session: SessionDep, key: Editor
) -> PublicationPublic:
    pub = publications.resubmit(
        session,
        publication_id,
        submitted_at=body.submitted_at,
        platform_post_id=body.platform_post_id,
        post_url=body.post_url,
        note=body.note,
        override=body.override,
        override_reason=body.override_reason,
        actor=key.id,
    )
    return _publication_public(session, [pub])[0]


# --- status and reports -------------------------------------------------------------------------------


@router.get(
    f"{API}/compliance/status", summary="Where every channel stands, now or at as_of", responses=problems(404),
    description="Per account, each channel's state and quota position; `candidates` lists, for each channel with "
    "a gap (at risk or on track), the drafts waiting for review and the open clip proposals that fit it (media "
    "type, aspect, duration; a proposal with the preset to render it with), up to the channel's shortfall. "
    "Each channel's `daily_approved` counts the approvals of the running month day by day (in the account's "
    "timezone; the same figures as the monthly report's), for charts that need not fetch the whole report.",
)
def compliance_status(
    session: SessionDep,
    _: Viewer,
    as_of: Annotated[Instant | None, Query()] = None,
    account_id: Annotated[list[uuid.UUID] | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    at = as_of or utcnow()
    return status_document(monthly.compliance_status(session, at, account_id or None, with_candidates=True), at)


_ACCEPT = {
    "text/csv": "csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "application/json": "json",
}


def negotiate(request: Request, fmt: str | None) -> str:
    if fmt:
        return fmt
    for part in request.headers.get("accept", "").split(","):
        found = _ACCEPT.get(part.split(";")[0].strip().lower())
        if found:
            return found
    return "json"


def _download(data: bytes, fmt: str, name: str, inline: bool) -> Response:
    disposition = "inline" if inline else "attachment"
    return Response(
        data,
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f"{disposition}; filename=\"{name}\"; filename*=UTF-8''{quote(name)}",
            "Vary": "Accept",
        },
    )


@router.get(
    f"{API}/reports/monthly/{{month}}",
    summary="The monthly quota report (json, csv, xlsx or html; ?format= or Accept)",
    response_class=Response,
    responses={
        **answers(200, "The report in the format asked for", *MEDIA_TYPES.values()),
        **problems(404),
    },
)
def monthly_report(
    month: Annotated[Text, Path(max_length=20, examples=["2026-11"])],
    request: Request,
    session: SessionDep,
    _: Viewer,
    format: Format | None = None,  # noqa: A002
    as_of: Annotated[Instant | None, Query()] = None,
    lang: Annotated[
        Literal["zh", "en"], Query(description="Language of CSV and XLSX headers, statuses and names")
    ] = "zh",
) -> Response:
    fmt = negotiate(request, format)
    report = monthly.monthly_report(session, month, as_of)
    data = render(report, fmt, lang)
    return _download(data, fmt, filename(report, fmt), inline=fmt in ("json", "html"))


def _report_public(row: Report) -> ReportPublic:
    # The row's `files` holds storage keys per format; the public answer links to them instead.
    fields = {name: getattr(row, name) for name in ReportPublic.model_fields if name != "files"}
    return ReportPublic.model_validate({**fields, "files": reports.report_links(row)})


@router.get(
    f"{API}/reports", response_model=list[ReportPublic], summary="Generated reports, newest period first"
)
def list_reports(
    session: SessionDep, _: Viewer, kind: Annotated[Text | None, Query(max_length=32)] = None, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[ReportPublic]:
    return [_report_public(r) for r in reports.list_reports(session, kind, limit)]


@router.get(f"{API}/reports/{{report_id}}", response_model=ReportPublic, summary="One generated report", responses=problems(404))
def get_report(report_id: IntId, session: SessionDep, _: Viewer) -> ReportPublic:
    return _report_public(reports.get_report(session, report_id))


@router.get(
    f"{API}/reports/{{report_id}}/files/{{fmt}}", summary="A stored report file", response_class=Response,
    responses={
        **answers(200, "The stored file", *MEDIA_TYPES.values()),
        **answers(206, "Partial content (Range)", *MEDIA_TYPES.values()),
        **answers(304, "Not modified (If-None-Match)"),
        **problems(404, 416),
    },
)
def report_file(
    report_id: IntId, fmt: Format, request: Request, session: SessionDep, storage: StorageDep, _: Viewer
) -> Response:
    row = reports.get_report(session, report_id)
    meta = row.files.get(fmt)
    if not meta:
        raise errors.NotFound(key="report-file-not-found", params={"id": str(report_id), "format": fmt})
    return serve_object(
        request,
        storage,
        meta["key"],
        filename=meta["filename"],
        content_type=meta["content_type"],
        etag=f"{row.id}-{row.generated_at.timestamp()}-{fmt}",
        allow_redirect=False,
    )
