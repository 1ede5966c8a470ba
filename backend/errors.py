"""The error tree: every failure a client can see, rendered as problem+json (RFC 9457).

Each class has an HTTP status, a stable `type` slug and a title; clients switch on `type`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from backend import i18n

PROBLEM_BASE = "/problems/"


class AppError(Exception):
    """`title` is the English summary for logs and the CLI; an answer takes its title, in the caller's
    language, from the catalogues (backend/i18n). A detail worded in both languages is raised with `key`
    (a text of backend/i18n/details.<lang>.json) and `params` (its named parameters); `detail` is then the
    English text. Given both, `detail` stays the English words and `key` words the other languages (a
    library's own English message, e.g. the media probe's). A plain `detail` string is answered as it is,
    in every language, under a title in the caller's language."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"
    retry_after: ClassVar[int | None] = None  # seconds, sent as Retry-After when set

    def __init__(
        self, detail: str | None = None, *, key: str | None = None, params: Mapping[str, Any] | None = None, **extra: Any
    ) -> None:
        self.key = key
        self.params: dict[str, Any] = dict(params or {})
        self.english_given = detail is not None  # the raiser's own English words (a library's), kept in English
        if detail is None and key is not None:
            detail = i18n.text(key, i18n.EN, self.params)
        self.explicit_detail = detail is not None
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    @classmethod
    def type_uri(cls) -> str:
        return PROBLEM_BASE + cls.slug

    @classmethod
    def title_in(cls, language: str) -> str:
        return i18n.title(cls.slug, language) or cls.title

    def detail_in(self, language: str) -> str:
        """The detail in `language` where it is worded there; else the English detail (the title says
        what happened in the caller's language); no detail given: the title."""
        if self.key is not None and not (language == i18n.EN and self.english_given):
            worded = i18n.text(self.key, language, self.params)
            if worded is not None:
                return worded
        if not self.explicit_detail:
            return self.title_in(language)
        return self.detail

    def to_problem(self, instance: str | None = None, language: str = i18n.EN) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri(),
            "title": self.title_in(language),
            "status": self.status,
            "detail": self.detail_in(language),
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(AppError):
    status, slug, title = 400, "bad-request", "Bad request"


class ValidationFailed(AppError):
    status, slug, title = 422, "validation-error", "Request validation failed"


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Missing or invalid API key"


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "This API key's role does not allow this action"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(AppError):
    status, slug, title = 405, "method-not-allowed", "This path does not take that method; see the Allow header"


class Gone(AppError):
    status, slug, title = 410, "gone", "Gone"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Upload exceeds the size limit"


class UnsupportedMediaType(AppError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported Content-Type"


class RangeNotSatisfiable(AppError):
    status, slug, title = 416, "range-not-satisfiable", "Requested range not satisfiable"


class ServiceUnavailable(AppError):
    status, slug, title = 503, "service-unavailable", "A backing service is unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database dropped the connection or could not be reached (a restart, a failover, a full
    pool). Nothing was committed by this request; retrying it is safe."""

    slug, title = "database-unavailable", "The database is unavailable; retry shortly"
    retry_after = 5


class BodyTooLarge(PayloadTooLarge):
    slug, title = "body-too-large", "The request body exceeds this endpoint's size limit"


class JsonTooDeep(BadRequest):
    slug, title = "json-too-deep", "The JSON body is nested too deeply"


def database_error(exc: BaseException) -> AppError | None:
    """The problem a client sees for a database failure that is about reaching the database, not about
    the request: a lost or refused connection, a pool that stayed empty. Anything else is a bug (500)."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.TimeoutError):  # QueuePool: no connection came free in time
        return DatabaseUnavailable(key="database-no-connection")
    if isinstance(exc, sa_exc.DBAPIError) and (
        exc.connection_invalidated or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
    ):
        return DatabaseUnavailable()
    return None


# --- catalogue: tags and their categories ------------------------------------------------------------


class TagCategoryUnknown(ValidationFailed):
    slug, title = "tag-category-unknown", "Unknown tag category"


class TagCategoryExists(Conflict):
    slug, title = "tag-category-exists", "The tag category exists already"


class StorageFull(AppError):
    status, slug, title = 507, "storage-full", "The server has no room for the upload right now; nothing was kept"


# --- media rejected at ingest: 422, one type per reason -------------------------------------------


class MediaRejected(AppError):
    status, slug, title = 422, "media-rejected", "The file was rejected as media"


class EmptyFile(MediaRejected):
    slug, title = "media-empty", "The file is empty"


class NotMedia(MediaRejected):
    slug, title = "media-unrecognised", "The file is not a recognised video, audio or image"


class TruncatedMedia(MediaRejected):
    slug, title = "media-truncated", "The file is truncated or corrupt"


class KindMismatch(MediaRejected):
    slug, title = "media-kind-mismatch", "The file's content does not match the declared media type"


class ContainerNotAllowed(MediaRejected):
    slug, title = "media-container-not-allowed", "The container format is not on the allow-list"


class CodecNotAllowed(MediaRejected):
    slug, title = "media-codec-not-allowed", "A codec is not on the allow-list"


class DimensionsNotAllowed(MediaRejected):
    slug, title = "media-dimensions-not-allowed", "The picture dimensions are outside the allowed range"


class DecompressionBomb(MediaRejected):
    slug, title = "media-decompression-bomb", "The image would decompress to an unsafe size"


class DurationNotAllowed(MediaRejected):
    slug, title = "media-duration-not-allowed", "The duration is outside the allowed range"


# --- people and sign-in (backend/auth) ---------------------------------------------------------


class SignInFailed(Unauthorized):
    slug, title = "sign-in-failed", "Wrong user name or password"


class SignInThrottled(AppError):
    status, slug, title = 429, "sign-in-throttled", "Too many failed sign-ins; wait and try again"
    retry_after = 900

    def __init__(
        self, detail: str | None = None, *, wait_s: int, key: str | None = None, params: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(detail, key=key, params=params, retry_after_s=wait_s)
        vars(self)["retry_after"] = wait_s  # this refusal's own Retry-After (the class's is the longest)


class CsrfFailed(Forbidden):
    slug, title = "csrf-failed", "The request lacks this session's X-CSRF-Token"


class UsernameTaken(Conflict):
    slug, title = "username-taken", "That user name is already taken"


class LastAdmin(Conflict):
    slug, title = "last-admin", "The last active admin cannot be disabled or demoted"


class PasswordRejected(AppError):
    status, slug, title = 422, "password-rejected", "The password does not meet the rules"


def error_classes() -> list[type[AppError]]:
    """Every error class, for the /problems documentation endpoint and OpenAPI."""
    seen: list[type[AppError]] = []
    stack: list[type[AppError]] = [AppError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return sorted(seen, key=lambda c: c.slug)


# --- compliance: accounts, channels, publications, reports ------------------------------------------


class UnknownPlatform(AppError):
    status, slug, title = 422, "platform-unknown", "No platform with that id in the presets"


class UnknownChannel(AppError):
    status, slug, title = 422, "channel-unknown", "The account has no channel with that id"


class ChannelRulesInvalid(AppError):
    status, slug, title = 422, "channel-rules-invalid", "The channel rules would be inconsistent"


class UnknownMaterial(AppError):
    status, slug, title = 422, "publication-unknown-material", "The publication names a material that does not exist"


class PublicationNotSubmitted(AppError):
    status, slug, title = 422, "publication-not-submitted", "A reviewed publication needs its submission date"


class PublicationDatesOutOfOrder(AppError):
    status, slug, title = 422, "publication-dates-out-of-order", "The publication's dates are in an impossible order"


class PublicationConflict(AppError):
    status, slug, title = 409, "publication-conflict", "The publication conflicts with recorded state"


class DuplicatePostId(PublicationConflict):
    slug, title = "publication-duplicate-post-id", "This account already has a publication with that post id"


class InvalidTransition(PublicationConflict):
    slug, title = "publication-invalid-transition", "The publication's review status does not allow that change"


class AlreadyResubmitted(PublicationConflict):
    """`resubmitted_as` names the publication that resubmitted it; resubmit that one if it was turned down too."""

    slug, title = "publication-already-resubmitted", "The publication was already submitted again"


class PublicationRefused(AppError):
    """A submission that does not fit its channel; `checks` lists every failed check, the type names the first.
    An editor may submit anyway with `override` (the check names) and `override_reason`."""

    status, slug, title = 422, "publication-refused", "The material does not fit the channel"


class PublicationMediaType(PublicationRefused):
    slug, title = "publication-media-type", "The channel does not take this kind of media"


class PublicationAspect(PublicationRefused):
    slug, title = "publication-aspect", "The material's aspect ratio is not one the channel takes"


class PublicationDuration(PublicationRefused):
    slug, title = "publication-duration", "The material is shorter or longer than the channel allows"


class PublicationDuplicate(PublicationRefused):
    status, slug, title = 409, "publication-duplicate", "The material (or a copy of it) is already approved or pending on the channel"


class AccountInUse(AppError):
    status, slug, title = 409, "account-in-use", "The account has publications and cannot be deleted"


class ReportPeriodInvalid(AppError):
    status, slug, title = 422, "report-period-invalid", "The report period is malformed or has not started"


# --- resumable (tus) uploads ------------------------------------------------------------------------


class TusVersionUnsupported(AppError):
    status, slug, title = 412, "tus-version-unsupported", "The request's Tus-Resumable version is not supported"


class UploadOffsetMismatch(Conflict):
    slug, title = "upload-offset-mismatch", "Upload-Offset does not match the upload's current offset"


class UploadLocked(AppError):
    status, slug, title = 423, "upload-locked", "Another request is writing to this upload; retry after it ends"


class UploadGone(Gone):
    slug, title = "upload-gone", "The upload was terminated, has expired or was rejected"


class ChecksumAlgorithmUnsupported(BadRequest):
    slug, title = "upload-checksum-algorithm-unsupported", "The Upload-Checksum algorithm is not supported"


class ChecksumMismatch(AppError):
    status, slug, title = 460, "upload-checksum-mismatch", "The chunk does not match its Upload-Checksum; it was discarded"


# --- metrics: platform exports, snapshots, fingerprints -------------------------------------------


class MetricsFileUnreadable(AppError):
    status, slug, title = 422, "metrics-file-unreadable", "The metrics export cannot be read"


class MetricsFileEncoding(MetricsFileUnreadable):
    slug, title = "metrics-file-encoding", "The CSV is not UTF-8, UTF-16 or GB18030 text"


class MetricsImportTooLarge(AppError):
    """The export goes past a hard limit; `limit` names which (rows, columns, cell, shared-strings,
    uncompressed, zip-members, memory, time) and `max` its value."""

    status, slug, title = 413, "metrics-import-too-large", "The metrics export goes past a size limit"


class MetricsMappingUnknown(AppError):
    status, slug, title = 422, "metrics-mapping-unknown", "No column mapping for that platform's export"


class MetricsImportRejected(AppError):
    status, slug, title = 422, "metrics-import-rejected", "Some rows cannot be read; nothing was imported"


class FingerprintUnavailable(AppError):
    status, slug, title = 422, "fingerprint-unavailable", "No video fingerprint could be made from the file"


# --- renders: jobs that cut a source into platform presets ------------------------------------------


class RenderRequestInvalid(AppError):
    status, slug, title = 422, "render-request-invalid", "The render request cannot be rendered from this source"


class RenderSourceNotReady(RenderRequestInvalid):
    slug, title = "render-source-not-ready", "The source is not a ready video material"


class RenderPresetUnknown(RenderRequestInvalid):
    slug, title = "render-preset-unknown", "No preset with that id"


class RenderRangeInvalid(RenderRequestInvalid):
    slug, title = "render-range-invalid", "A time range is outside the source's duration"


class RenderTooShort(RenderRequestInvalid):
    slug, title = "render-too-short", "The cut is shorter than every requested preset's minimum duration"


class RenderOverlayInvalid(RenderRequestInvalid):
    slug, title = "render-overlay-invalid", "An overlay (watermark, subtitles, intro/outro) cannot be used"


class JobStateConflict(Conflict):
    slug, title = "job-state-conflict", "The job's status does not allow that action"


# --- autoclip: analyses of a recording and what is attached to it ----------------------------------


class AnalysisNotPossible(AppError):
    status, slug, title = 422, "analysis-not-possible", "This material cannot be analysed"


class TranscriptUnreadable(AppError):
    status, slug, title = 422, "transcript-unreadable", "The transcript cannot be read as SRT or WebVTT"


class SessionDataUnreadable(AppError):
    status, slug, title = 422, "session-data-unreadable", "The live session's data cannot be read"


class ProposalsNeedAnalysis(AppError):
    status, slug, title = 409, "proposals-need-analysis", "The material has no finished analysis to propose clips from"


class StoryboardNotReady(NotFound):
    slug, title = "storyboard-not-ready", "The proposal's storyboard is not made yet (it is made on the worker)"


class ProposalStateConflict(Conflict):
    slug, title = "proposal-state-conflict", "The proposal's status does not allow that action"


class ProposalRangeInvalid(AppError):
    status, slug, title = 422, "proposal-range-invalid", "The in and out points are not a range of the source"


class ProposalCutsSpeech(AppError):
    status, slug, title = 422, "proposal-cuts-speech", "An in or out point falls inside an utterance"


class MaterialNotDraft(Conflict):
    slug, title = "material-not-draft", "The material is not a draft waiting for review"


class ProposalRangeUsed(Conflict):
    slug, title = "proposal-range-used", "The range overlaps a clip already made or chosen from this source"


class AutoclipRuleDisabled(Conflict):
    slug, title = "autoclip-rule-disabled", "The automatic re-edit rule is disabled"


class AutoclipRuleInvalid(AppError):
    status, slug, title = 422, "autoclip-rule-invalid", "The automatic re-edit rule is not valid"


# --- proxies: the browser-playable copy of a material, its sprite and waveform ----------------------


class ProxyNotReady(NotFound):
    slug, title = "proxy-not-ready", "The material's proxy is not ready (see its proxy state)"


class ProxyNotPossible(AppError):
    status, slug, title = 422, "proxy-not-possible", "This material has no proxy (images, or no stored file)"


class ProxyStateConflict(Conflict):
    slug, title = "proxy-state-conflict", "The proxy's state does not allow that action"


class ReframeNeedsAnalysis(AppError):
    status, slug, title = 409, "reframe-needs-analysis", "The material has no finished analysis to follow its subjects from"


class ReframeRequestInvalid(AppError):
    status, slug, title = 422, "reframe-request-invalid", "The reframe request does not fit this source"
