"""SQLModel tables. Importing this package registers every table on SQLModel.metadata."""

from backend.models.auth import ApiKey, Role
from backend.models.compliance import AccountChannel, PlatformAccount, Publication, PublicationEvent, Report
from backend.models.material import (
    Material,
    MaterialKind,
    MaterialStatus,
    MaterialTag,
    MediaType,
    Orientation,
    Tag,
    TagCategory,
)
from backend.models.metrics import MaterialFingerprint, MetricImport, MetricSnapshot
from backend.models.render import JobStatus, OutputStatus, RenderJob, RenderOutput
from backend.models.upload import TusUpload, UploadStatus, UploadStorageMode

__all__ = [
    "AccountChannel", "ApiKey", "JobStatus", "Material", "MaterialFingerprint", "MaterialKind", "MaterialStatus",
    "MaterialTag", "MediaType", "MetricImport", "MetricSnapshot", "Orientation", "OutputStatus", "PlatformAccount",
    "Publication", "PublicationEvent", "RenderJob", "RenderOutput", "Report", "Role", "Tag", "TagCategory",
    "TusUpload", "UploadStatus", "UploadStorageMode",
]
