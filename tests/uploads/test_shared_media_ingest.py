"""Every recording in ../shared/media goes through the upload API: catalogued with the right
displayed size, or refused with the right problem type and nothing kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import shared_media

CASES = {
    "phone_android_portrait_4k60_h264_aac_rot90.mp4": (201, "video", (2160, 3840)),
    "phone_android_landscape_h264_aac_vfr_rot180.mp4": (201, "video", (1280, 720)),
    "chrome_mediarecorder_h264_in_webm_vfr.webm": (201, "video", (640, 480)),
    "android_hevc10_hlg_landscape.mp4": (201, "video", (1920, 1080)),
    "mkv_h264_ac3_srt_subtitle.mkv": (201, "video", (1080, 720)),
    "android_slowmo_h264_noaudio.mp4": (201, "video", (1280, 720)),
    "apple_coremedia_h264_aac_640x428.mov": (201, "video", (640, 428)),
    "flower_cc0_vp8_vorbis.webm": (201, "video", (960, 540)),
    "gopro_max_landscape_h264_aac_gpmf.mp4": (201, "video", (848, 480)),
    "flower_cc0_h264_aac_960x540.mp4": (201, "video", (960, 540)),
    "phone_android_landscape_h264_aac_320x240.mp4": (201, "video", (320, 240)),
    "trex_roar_cc0_audio_only.mp3": (201, "audio", None),
    "truncated_gopro_no_moov.mp4": (422, "media-truncated", None),
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_sample_recording(client, app_env, name: str, make_previews) -> None:
    path = shared_media(name)
    status, what, size = CASES[name]
    res = client.post("/api/v1/materials", params={"filename": name}, content=path.read_bytes(),
                      headers={"Content-Type": "application/octet-stream"})
    assert res.status_code == status, res.text
    body = res.json()
    if status == 422:
        assert body["type"] == f"/problems/{what}"
        objects = Path(app_env["REELHOUSE_DATA_DIR"]) / "objects"
        assert not objects.exists() or not [p for p in objects.rglob("*") if p.is_file()]
        return
    assert body["media_type"] == what
    if size:
        assert (body["media"]["display_width"], body["media"]["display_height"]) == size
        assert make_previews(body["id"]) is True
        poster = client.get(body["links"]["poster"])
        assert poster.status_code == 200 and "x-reelhouse-placeholder" not in poster.headers
        assert client.get(f"/api/v1/materials/{body['id']}/contact-sheet").status_code == 200


def test_audio_only_declared_as_video_is_refused(client) -> None:
    path = shared_media("trex_roar_cc0_audio_only.mp3")
    res = client.post("/api/v1/materials", params={"media_type": "video"}, content=path.read_bytes(),
                      headers={"Content-Type": "application/octet-stream"})
    assert res.status_code == 422 and res.json()["type"] == "/problems/media-kind-mismatch"
