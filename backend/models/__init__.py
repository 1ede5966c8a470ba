"""SQLModel tables. Importing this package registers every table on SQLModel.metadata."""

from backend.models.auth import ApiKey, Role
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

__all__ = [
    "ApiKey", "Material", "MaterialKind", "MaterialStatus", "MaterialTag", "MediaType",
    "Orientation", "Role", "Tag", "TagCategory",
]
from backend.models.compliance import AccountChannel, PlatformAccount, Publication, PublicationEvent, Report  # noqa: E402,F401
from backend.models.upload import TusUpload, UploadStatus, UploadStorageMode  # noqa: E402,F401
from backend.models.metrics import MaterialFingerprint, MetricImport, MetricSnapshot  # noqa: E402,F401
from backend.models.render import JobStatus, OutputStatus, RenderJob, RenderOutput  # noqa: E402,F401
