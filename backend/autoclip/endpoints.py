"""Analyses of a recording and what is attached to it: start one (202 + the analysis to follow), list
and read them, attach a transcript (SRT/VTT) or the live session's data (CSV/XLSX); clip proposals
computed from the newest analysis (listed, adjusted, rejected), chosen ones rendered as drafts, and the
review that approves or rejects a draft."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from backend import errors, i18n
from backend.autoclip import rules
from backend.autoclip import service as autoclip
from backend.autoclip.models import (
    Analysis,
    AutoclipRule,
    AutoclipRun,
    Proposal,
    ProposalStatus,
    SessionData,
    Transcript,
)
from backend.autoclip.schemas import (
    AnalysisPublic,
    AnalysisSummary,
    BackfillMaterial,
    BackfillPublic,
    BackfillRequest,
    ChannelPlanPublic,
    ClipPlanPublic,
    DraftJobPublic,
    ProposalPublic,
    ProposalsCreate,
    ProposalsRender,
    ProposalUpdate,
    ReasonPublic,
    ReviewDecision,
    RuleCreate,
    RuleDryRun,
    RuleMatch,
    RulePublic,
    RuleUpdate,
    RunPublic,
    SessionDataPublic,
    SessionSeriesPublic,
    StoryboardPublic,
    TranscriptPublic,
    TranscriptSegmentPublic,
)
from backend.bodies import file_from_body
from backend.catalogue.endpoints import public_one
from backend.catalogue.models import Material, MaterialStatus
from backend.catalogue.schemas import MaterialPublic
from backend.deps import Editor, SessionDep, SettingsDep, StorageDep, Viewer
from backend.renders import service as renders
from backend.renders.endpoints import job_public
from backend.responses import answers, problems, serve_object
from backend.sqltypes import utcnow

router = APIRouter(tags=["autoclip"], responses=problems(401))

API = "/api/v1"
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024


def summarise(signals: dict[str, Any] | None) -> AnalysisSummary | None:
    if not signals:
        return None
    audio, picture, text, sess = (signals.get(k) or {} for k in ("audio", "picture", "text", "session"))
    return AnalysisSummary(
        duration_s=signals.get("duration"),
        speech_segments=len(audio.get("speech", [])),
        pauses=len(audio.get("pauses", [])),
        shot_changes=len(picture.get("shot_changes", [])),
        faces_seen=len(picture.get("faces", [])),
        text_lines=len(text.get("lines", [])),
        products=sorted({m["tag_id"] for m in text.get("products", [])}),
        session_peaks=len(sess.get("peaks", [])),
        sampling=picture.get("sampling"),
    )


def analysis_public(a: Analysis, *, with_signals: bool = False) -> AnalysisPublic:
    base = f"{API}/analyses/{a.id}"
    return AnalysisPublic.model_validate(a, from_attributes=True).model_copy(update={
        "summary": summarise(a.signals),
        "signals": a.signals if with_signals else None,
        "links": {"self": base, "material": f"{API}/materials/{a.material_id}"},
    })


def transcript_public(t: Transcript) -> TranscriptPublic:
    assert t.id is not None
    return TranscriptPublic(
        id=t.id, material_id=t.material_id, source=t.source, filename=t.filename, segment_count=len(t.segments),
        first_segments=[TranscriptSegmentPublic(**s) for s in t.segments[:5]], created_at=t.created_at,
    )


def session_data_public(d: SessionData) -> SessionDataPublic:
    assert d.id is not None
    series = {
        k: SessionSeriesPublic(start=v["start"], step=v["step"], points=len(v["values"]), max=max(v["values"], default=0.0))
        for k, v in d.series.items()
    }
    return SessionDataPublic(
        id=d.id, material_id=d.material_id, filename=d.filename, offset_s=d.offset_s, series=series, created_at=d.created_at
    )


@router.post(
    f"{API}/materials/{{material_id}}/analyses", status_code=202, response_model=AnalysisPublic,
    summary="Analyse a recording (a new version)",
    description="Queues an analysis of the source video: speech and pauses, loudness, shot changes, motion, "
    "the host's face, on-screen text matched to `product` tags and selling cues, and the peaks of the "
    "attached live-session data. Each request makes a new version; follow it at the `Location` URL.",
    responses=problems(403, 404),
)
def start_analysis(material_id: uuid.UUID, response: Response, key: Editor, session: SessionDep) -> AnalysisPublic:
    analysis = autoclip.start_analysis(session, material_id, requested_by=key.id)
    response.headers["Location"] = f"{API}/analyses/{analysis.id}"
    return analysis_public(analysis)


@router.get(
    f"{API}/materials/{{material_id}}/analyses", response_model=list[AnalysisPublic],
    summary="A material's analyses, newest version first (summaries, without signals)",
    responses=problems(403, 404),
)
def list_analyses(material_id: uuid.UUID, _: Viewer, session: SessionDep) -> list[AnalysisPublic]:
    return [analysis_public(a) for a in autoclip.list_analyses(session, material_id)]


@router.get(f"{API}/analyses/{{analysis_id}}", response_model=AnalysisPublic, summary="One analysis with its signals",
             responses=problems(403, 404))
def read_analysis(analysis_id: uuid.UUID, _: Viewer, session: SessionDep) -> AnalysisPublic:
    return analysis_public(autoclip.get_analysis(session, analysis_id), with_signals=True)


@router.post(
    f"{API}/materials/{{material_id}}/transcript", status_code=201, response_model=TranscriptPublic,
    summary="Attach a transcript (SRT or WebVTT)",
    description="Send the subtitle file as the raw body (`filename` in the query) or as multipart `file`. "
    "`offset_seconds` shifts every subtitle (subtitles made for a part that starts later in the recording). "
    "The newest transcript is the one the next analysis uses.",
    responses=problems(400, 403, 404, 413),
)
async def attach_transcript(
    request: Request, material_id: uuid.UUID, key: Editor, session: SessionDep,
    filename: Annotated[str | None, Query(max_length=500)] = None,
    offset_seconds: Annotated[float, Query(ge=0, le=7 * 24 * 3600)] = 0.0,
) -> TranscriptPublic:
    data, name = await file_from_body(request, filename=filename, default="transcript.srt",
                                      limit=MAX_ATTACHMENT_BYTES, what={i18n.ZH: "字幕文件", i18n.EN: "a transcript"})
    row = await run_in_threadpool(
        autoclip.import_subtitles, session, material_id, data, name, offset_s=offset_seconds, created_by=key.id
    )
    return transcript_public(row)


@router.post(
    f"{API}/materials/{{material_id}}/session-data", status_code=201, response_model=SessionDataPublic,
    summary="Attach the live session's per-minute data (CSV or XLSX)",
    description="The live dashboard's export with a time column (时间) and any of 在线人数, 评论数, 点赞数, "
    "订单数, 成交金额. `offset_seconds` is the second of the recording at which the first row's minute starts.",
    responses=problems(400, 403, 404, 413),
)
async def attach_session_data(
    request: Request, material_id: uuid.UUID, key: Editor, session: SessionDep,
    filename: Annotated[str | None, Query(max_length=500)] = None,
    offset_seconds: Annotated[float, Query(ge=0, le=7 * 24 * 3600)] = 0.0,
) -> SessionDataPublic:
    data, name = await file_from_body(request, filename=filename, default="session.csv",
                                      limit=MAX_ATTACHMENT_BYTES, what={i18n.ZH: "直播场次数据", i18n.EN: "the session data"})
    row = await run_in_threadpool(
        autoclip.import_session_data, session, material_id, data, name, offset_s=offset_seconds, created_by=key.id
    )
    return session_data_public(row)


# --------------------------------------------------------------------------- proposals


def proposal_public(p: Proposal) -> ProposalPublic:
    links = {"self": f"{API}/proposals/{p.id}", "material": f"{API}/materials/{p.material_id}",
             "analysis": f"{API}/analyses/{p.analysis_id}"}
    board = None
    if p.storyboard:
        links["storyboard"] = f"{API}/proposals/{p.id}/storyboard"
        board = StoryboardPublic(url=links["storyboard"], times=p.storyboard.get("times", []),
                                 width=p.storyboard.get("width", 0), height=p.storyboard.get("height", 0))
    return ProposalPublic(
        id=p.id, analysis_id=p.analysis_id, material_id=p.material_id, type=p.type, product_tag_id=p.product_tag_id,
        start=p.start_s, end=p.end_s, duration=round(p.end_s - p.start_s, 3), score=p.score,
        reasons=[ReasonPublic(**r) for r in p.reasons], status=p.status, storyboard=board, created_at=p.created_at,
        updated_at=p.updated_at, links=links,
    )


@router.post(
    f"{API}/materials/{{material_id}}/proposals", status_code=201, response_model=list[ProposalPublic],
    summary="Propose clips from the newest finished analysis (nothing is rendered)",
    description="Splits the recording into product segments and proposes up to `count` clips of `min_s`-`max_s` "
    "seconds, typed demo / qa / offer / highlight, cut on pauses or shot changes (never inside an utterance), "
    "spread across products, none overlapping a range that a derived clip, a pending render job or an "
    "accepted or rejected proposal of this source already uses. Each comes with its score and its reasons "
    "as data. The new proposals replace the material's open ones.",
    responses=problems(400, 403, 404, 409),
)
def create_proposals(
    material_id: uuid.UUID, key: Editor, session: SessionDep, body: ProposalsCreate | None = None
) -> list[ProposalPublic]:
    params = body or ProposalsCreate()
    rows = autoclip.compute_proposals(
        session, material_id, count=params.count, min_s=params.min_s, max_s=params.max_s, created_by=key.id
    )
    return [proposal_public(p) for p in rows]


@router.get(
    f"{API}/materials/{{material_id}}/proposals", response_model=list[ProposalPublic],
    summary="A material's proposals, in source order", responses=problems(403, 404),
)
def list_proposals(
    material_id: uuid.UUID, _: Viewer, session: SessionDep, status: ProposalStatus | None = None
) -> list[ProposalPublic]:
    return [proposal_public(p) for p in autoclip.list_proposals(session, material_id, status)]


@router.post(
    f"{API}/proposals/render", status_code=202, response_model=list[DraftJobPublic],
    summary="Render chosen proposals as drafts (one render job per proposal)",
    description="Each proposal's in and out point is rendered into every preset by one job (follow it at its "
    "`links.self`); the proposal becomes `accepted`. Each rendition is a derived material in review state "
    "`draft`, with the source's inheritable tags, a platform tag and the proposal's product tag, its recipe "
    "keeping the proposal (id, type, reasons, `rule_id`) under `autoclip`. All or nothing: a proposal that is "
    "not open is a conflict (`proposal-state-conflict`), and the render checks apply as on "
    "`/materials/{id}/renders`.",
    responses=problems(400, 403, 404, 409, 422),
)
def render_proposals(
    body: ProposalsRender, key: Editor, session: SessionDep, settings: SettingsDep
) -> list[DraftJobPublic]:
    made = autoclip.render_proposals(
        session, settings, body.proposal_ids, body.preset_ids, requested_by=key.id, rule_id=body.rule_id
    )
    outs = renders.outputs_of(session, [job.id for _, job in made])
    return [DraftJobPublic(proposal_id=p.id, job=job_public(job, outs[job.id])) for p, job in made]


@router.post(
    f"{API}/materials/{{material_id}}/review", response_model=MaterialPublic,
    summary="Approve or reject a draft",
    description="Moves a `draft` material (an automatic re-edit) to `approved` or `rejected`, keeping the reason. "
    "A material that is not a draft (never one, or already decided) is a conflict (`material-not-draft`).",
    responses=problems(400, 403, 404, 409),
)
def review_material(material_id: uuid.UUID, body: ReviewDecision, key: Editor, session: SessionDep) -> MaterialPublic:
    m = autoclip.review_material(
        session, material_id, approve=body.decision == "approve", reason=body.reason, by=key.id
    )
    return public_one(session, m)


@router.get(
    f"{API}/proposals/{{proposal_id}}", response_model=ProposalPublic, summary="One proposal",
    responses=problems(403, 404),
)
def read_proposal(proposal_id: uuid.UUID, _: Viewer, session: SessionDep) -> ProposalPublic:
    return proposal_public(autoclip.get_proposal(session, proposal_id))


@router.get(
    f"{API}/proposals/{{proposal_id}}/storyboard", summary="A proposal's storyboard (JPEG)", response_class=Response,
    description="A few frames across the proposal's range, each stamped with its time in the source, made on the "
    "worker after the proposals are computed and again after an in or out point moves. Until it is made: 404 "
    "`storyboard-not-ready`.",
    responses={
        **answers(200, "JPEG", "image/jpeg"), **answers(206, "Partial content (Range)", "image/jpeg"),
        **answers(304, "Not modified (If-None-Match)"), **problems(403, 404, 416),
    },
)
def proposal_storyboard(
    proposal_id: uuid.UUID, request: Request, _: Viewer, session: SessionDep, storage: StorageDep
) -> Response:
    p = autoclip.get_proposal(session, proposal_id)
    key = (p.storyboard or {}).get("key")
    if not key:
        raise errors.StoryboardNotReady(
            key="autoclip.storyboard-not-ready", params={"id": str(proposal_id), "start": p.start_s, "end": p.end_s}
        )
    return serve_object(request, storage, key, filename=f"{p.id}-storyboard.jpg", content_type="image/jpeg",
                        etag=key.rsplit("/", 1)[-1], inline=True, allow_redirect=False)


@router.patch(
    f"{API}/proposals/{{proposal_id}}", response_model=ProposalPublic,
    summary="Move a proposal's in and/or out point",
    description="A point inside an utterance is moved into the pause beside it when the utterance's edge is "
    "within a second (a `snapped` reason says so); deeper in speech it is refused (`proposal-cuts-speech`). "
    "The range must lie in the source (`proposal-range-invalid`) and not overlap a range other clips use "
    "(`proposal-range-used`). Type, score and reasons are assessed again; a moved range gets a new storyboard "
    "(`storyboard` is null until the worker made it).",
    responses=problems(400, 403, 404, 409),
)
def adjust_proposal(proposal_id: uuid.UUID, body: ProposalUpdate, _: Editor, session: SessionDep) -> ProposalPublic:
    return proposal_public(autoclip.adjust_proposal(session, proposal_id, start=body.start, end=body.end))


@router.post(
    f"{API}/proposals/{{proposal_id}}/reject", response_model=ProposalPublic, summary="Reject a proposal",
    description="Its range is not proposed again. Rejecting twice is the same as once.",
    responses=problems(403, 404),
)
def reject_proposal(proposal_id: uuid.UUID, _: Editor, session: SessionDep) -> ProposalPublic:
    return proposal_public(autoclip.reject_proposal(session, proposal_id))


# --------------------------------------------------------------------------- the plan


@router.get(
    f"{API}/autoclip/plan", response_model=ClipPlanPublic,
    summary="How many clips to propose today, per channel of an account",
    description="Each channel's position this month (required, approved, and pending reviews counted at the "
    "account's approval rate) gives the approvals still missing; the shortfall is the clips to submit for them "
    "at that rate, and `propose_today` its share over the days left plus `extra` (default: the server's "
    "`autoclip_extra_clips`).",
    responses=problems(400, 404),
)
def clip_plan(
    account_id: uuid.UUID, _: Viewer, session: SessionDep, settings: SettingsDep,
    extra: Annotated[int | None, Query(ge=0, le=50)] = None,
    as_of: Annotated[datetime | None, Query(description="Default: now. With a timezone.")] = None,
) -> ClipPlanPublic:
    when = as_of or utcnow()
    if when.tzinfo is None:
        raise errors.BadRequest(key="timezone-needed", params={"name": "as_of", "example": "2026-11-21T10:00:00+08:00"})
    extra_clips = settings.autoclip_extra_clips if extra is None else extra
    rows = autoclip.clip_plan(session, account_id, extra=extra_clips, as_of=when)
    return ClipPlanPublic(account_id=account_id, as_of=when, channels=[
        ChannelPlanPublic(channel_id=r.channel_id, name_zh=r.name_zh, name_en=r.name_en, state=r.state, month=r.month,
                          **{k: getattr(r.plan, k) for k in ChannelPlanPublic.model_fields if hasattr(r.plan, k)
                             and k not in ("channel_id",)})
        for r in rows
    ])


# --------------------------------------------------------------------------- rules and their runs


def rule_public(session: SessionDep, rule: AutoclipRule) -> RulePublic:
    return RulePublic(
        id=rule.id, name=rule.name, enabled=rule.enabled,
        match=RuleMatch(tags=rules.tag_refs(session, rule), kind="source"),
        account_ids=[uuid.UUID(a) for a in rule.account_ids], count=rule.count, min_s=rule.min_s, max_s=rule.max_s,
        preset_ids=list(rule.preset_ids), created_by=rule.created_by, created_at=rule.created_at,
        updated_at=rule.updated_at,
        links={"self": f"{API}/autoclip/rules/{rule.id}", "runs": f"{API}/autoclip/runs?rule_id={rule.id}"},
    )


def _fields(body: RuleCreate | RuleUpdate) -> rules.RuleFields:
    match = body.match
    return rules.RuleFields(
        name=body.name, enabled=body.enabled, tags=list(match.tags) if match else None,
        kind=match.kind if match else None, account_ids=body.account_ids, count=body.count,
        min_s=body.min_s, max_s=body.max_s, preset_ids=body.preset_ids,
    )


RULE_WRITE_DOC = (
    "A rule takes every ingested source video carrying all `match.tags` ('category:name'; a missing tag is "
    "created, an unknown category is a 422 `tag-category-unknown`): it analyses it, proposes `count` clips of "
    "`min_s`..`max_s` seconds (with `account_ids`, the accounts' largest quota shortfall capped by `count`) and "
    "renders them for `preset_ids` as drafts waiting for review. An unknown preset or account, or `min_s` above "
    "`max_s`, is a 422 `autoclip-rule-invalid`."
)


@router.post(f"{API}/autoclip/rules", status_code=201, response_model=RulePublic,
             summary="Create an automatic re-edit rule", description=RULE_WRITE_DOC, responses=problems(400, 403, 422))
def create_rule(body: RuleCreate, response: Response, key: Editor, session: SessionDep) -> RulePublic:
    rule = rules.create_rule(session, _fields(body), created_by=key.id)
    response.headers["Location"] = f"{API}/autoclip/rules/{rule.id}"
    return rule_public(session, rule)


@router.get(f"{API}/autoclip/rules", response_model=list[RulePublic], summary="The automatic re-edit rules",
            responses=problems(403))
def list_rules(_: Viewer, session: SessionDep) -> list[RulePublic]:
    return [rule_public(session, r) for r in rules.list_rules(session)]


@router.get(f"{API}/autoclip/rules/{{rule_id}}", response_model=RulePublic, summary="One automatic re-edit rule",
            responses=problems(403, 404))
def read_rule(rule_id: uuid.UUID, _: Viewer, session: SessionDep) -> RulePublic:
    return rule_public(session, rules.get_rule(session, rule_id))


@router.patch(f"{API}/autoclip/rules/{{rule_id}}", response_model=RulePublic,
              summary="Change a rule, enable or disable it", description=RULE_WRITE_DOC,
              responses=problems(400, 403, 404, 422))
def update_rule(rule_id: uuid.UUID, body: RuleUpdate, _: Editor, session: SessionDep) -> RulePublic:
    return rule_public(session, rules.update_rule(session, rule_id, _fields(body)))


@router.delete(f"{API}/autoclip/rules/{{rule_id}}", status_code=204, summary="Delete a rule and its runs' records",
               description="The drafts it made stay.", responses=problems(403, 404))
def delete_rule(rule_id: uuid.UUID, _: Editor, session: SessionDep) -> Response:
    rules.delete_rule(session, rule_id)
    return Response(status_code=204)


@router.post(
    f"{API}/autoclip/rules/{{rule_id}}/dry-run", response_model=RuleDryRun,
    summary="What the rule would do (nothing is written)",
    description="With `material_id`: whether the rule takes that material and why, the clip count it would ask "
    "for and its presets, and whether a run would start (a rule runs once per material). Without: the ready "
    "materials it matches, newest 100.",
    responses=problems(403, 404),
)
def dry_run_rule(
    rule_id: uuid.UUID, _: Viewer, session: SessionDep, material_id: uuid.UUID | None = None
) -> RuleDryRun:
    rule = rules.get_rule(session, rule_id)
    base = {"rule_id": rule.id, "min_s": rule.min_s, "max_s": rule.max_s, "preset_ids": list(rule.preset_ids)}
    if material_id is None:
        count, why = rules.clip_count(session, rule)
        return RuleDryRun(**base, clip_count=count, reasons=[why], materials=rules.matching_materials(session, rule))
    material = session.get(Material, material_id)
    if material is None or material.status == MaterialStatus.deleted:
        raise errors.NotFound(key="material-not-found", params={"id": str(material_id)})
    found = rules.assess(session, rule, material)
    return RuleDryRun(
        **base, material_id=material.id, matched=found.matched, would_start=found.would_start, reasons=found.reasons,
        clip_count=found.clip_count, existing_run_id=found.existing_run.id if found.existing_run else None,
    )


def run_public(session: SessionDep, run: AutoclipRun) -> RunPublic:
    links = {"rule": f"{API}/autoclip/rules/{run.rule_id}", "material": f"{API}/materials/{run.material_id}"}
    if run.analysis_id:
        links["analysis"] = f"{API}/analyses/{run.analysis_id}"
    links["self"] = f"{API}/autoclip/runs/{run.id}"
    status = rules.run_status(session, run)
    return RunPublic(
        id=run.id, rule_id=run.rule_id, material_id=run.material_id, analysis_id=run.analysis_id,
        status=status, progress=rules.run_progress(session, run, status), origin=run.origin, clip_count=run.clip_count,
        job_ids=[uuid.UUID(j) for j in run.job_ids], error=run.error, created_at=run.created_at,
        updated_at=run.updated_at, links=links,
    )


@router.get(f"{API}/autoclip/runs", response_model=list[RunPublic],
            summary="Rule runs, newest first: queued → analysing → proposing → rendering → done / failed",
            responses=problems(403))
def list_runs(
    _: Viewer, session: SessionDep, material_id: uuid.UUID | None = None, rule_id: uuid.UUID | None = None
) -> list[RunPublic]:
    return [run_public(session, r) for r in rules.list_runs(session, material_id=material_id, rule_id=rule_id)]


@router.get(f"{API}/autoclip/runs/{{run_id}}", response_model=RunPublic, summary="One rule run, with its progress",
            responses=problems(403, 404))
def read_run(run_id: uuid.UUID, _: Viewer, session: SessionDep) -> RunPublic:
    return run_public(session, rules.get_run(session, run_id))


@router.post(
    f"{API}/autoclip/rules/{{rule_id}}/backfill", status_code=202, response_model=BackfillPublic,
    summary="Apply a rule to recordings already in the catalogue",
    description="Starts a run (`origin` backfill, followed at `/autoclip/runs/{id}` with its progress) for each "
    "ready recording the rule takes and has not run for, newest first: at most `limit`, ingested at or after "
    "`since`. A recording whose current analysis the running analyser made reuses it; others are analysed first. "
    "With `account_ids` the quota shortfall is shared out across the runs. Proposals never overlap a range that "
    "a draft, a published clip or a chosen proposal of the same source uses. `dry_run` (200) lists what would "
    "start and writes nothing. A disabled rule is a conflict (`autoclip-rule-disabled`).",
    responses={**problems(400, 403, 404, 409), 200: {"model": BackfillPublic, "description": "Dry run: nothing started"}},
)
def backfill_rule(
    rule_id: uuid.UUID, body: BackfillRequest, response: Response, _: Editor, session: SessionDep
) -> BackfillPublic:
    if body.since is not None and body.since.tzinfo is None:
        raise errors.BadRequest(key="timezone-needed", params={"name": "since", "example": "2026-11-01T00:00:00+08:00"})
    items = rules.backfill(session, rule_id, since=body.since, limit=body.limit, dry_run=body.dry_run)
    if body.dry_run:
        response.status_code = 200
    return BackfillPublic(
        rule_id=rule_id, dry_run=body.dry_run, since=body.since, limit=body.limit,
        started=sum(1 for i in items if i.run is not None),
        materials=[
            BackfillMaterial(
                material_id=i.material.id, title=i.material.title, created_at=i.material.created_at,
                matched=i.matched, clip_count=i.clip_count,
                reuses_analysis=i.reuses_analysis, reasons=i.reasons, run_id=i.run.id if i.run else None,
            )
            for i in items
        ],
        links={"rule": f"{API}/autoclip/rules/{rule_id}", "runs": f"{API}/autoclip/runs?rule_id={rule_id}"},
    )
