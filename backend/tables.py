"""SQLModel tables. Importing this package registers every table on SQLModel.metadata."""

from backend.auth.models import ApiKey, LoginAttempt, Role, User, WebSession
from backend.autoclip.models import Analysis, AnalysisStatus, SessionData, Transcript
from backend.catalogue.models import (
    Material,
    MaterialFingerprint,
    MaterialKind,
    MaterialStatus,
    MaterialTag,
    MediaType,
    Orientation,
    Tag,
    TagCategory,
)
from backend.compliance.models import AccountChannel, PlatformAccount, Publication, PublicationEvent, Report
from backend.metrics.models import MetricImport, MetricSnapshot
from backend.proxies.models import Proxy, ProxyState
from backend.renders.models import JobStatus, OutputStatus, RenderJob, RenderOutput
from backend.uploads.models import TusUpload, UploadStatus, UploadStorageMode

__all__ = [
    "AccountChannel", "Analysis", "AnalysisStatus", "SessionData", "Transcript", "ApiKey", "JobStatus", "Material", "MaterialFingerprint", "MaterialKind", "MaterialStatus",
    "MaterialTag", "MediaType", "MetricImport", "MetricSnapshot", "Orientation", "OutputStatus", "PlatformAccount", "Proxy", "ProxyState",
    "Publication", "PublicationEvent", "RenderJob", "RenderOutput", "Report", "Role", "Tag", "TagCategory",
    "TusUpload", "UploadStatus", "UploadStorageMode", "User", "WebSession", "LoginAttempt",
]
