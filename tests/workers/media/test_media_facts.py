"""One model of a file's facts (workers.media.facts.MediaFacts): the probe fills it, the catalogue
stores each field in the material column of its name, the API shows it back unchanged."""

from __future__ import annotations

import pytest

from backend.catalogue.models import Material, MaterialKind, MaterialStatus
from backend.catalogue.schemas import MediaFactsPublic
from tests.conftest import shared_media
from workers.media.facts import MediaFacts
from workers.media.probe import probe_file


def _fact_names() -> set[str]:
    return set(MediaFacts.model_fields) | set(MediaFacts.model_computed_fields)


def test_every_fact_has_a_material_column() -> None:
    columns = set(Material.__table__.columns.keys())  # type: ignore[attr-defined]
    assert _fact_names() <= columns, _fact_names() - columns


def test_the_public_schema_is_the_model() -> None:
    assert issubclass(MediaFactsPublic, MediaFacts)
    assert set(MediaFactsPublic.model_json_schema(mode="serialization")["properties"]) == _fact_names()


@pytest.mark.parametrize(
    "name", ["phone_android_portrait_4k60_h264_aac_rot90.mp4", "android_hevc10_hlg_landscape.mp4", "trex_roar_cc0_audio_only.mp3"]
)
def test_probed_facts_survive_the_table_and_the_api(name: str) -> None:
    facts = probe_file(shared_media(name))
    material = Material(title="t", media_type=facts.media_type, kind=MaterialKind.source, status=MaterialStatus.ready)
    material.apply_facts(facts)
    shown = MediaFactsPublic.model_validate(material)
    assert shown.model_dump() == facts.model_dump()
    assert material.orientation == facts.orientation and material.aspect_ratio == facts.aspect_ratio


def test_the_inspector_hands_the_facts_over_unchanged() -> None:
    facts = probe_file(shared_media("phone_android_portrait_4k60_h264_aac_rot90.mp4"))
    assert MediaFacts.from_dict(facts.to_dict()) == facts
    assert facts.media_created_at is not None and facts.media_created_at.tzinfo is not None
