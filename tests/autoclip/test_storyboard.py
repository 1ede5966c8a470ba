"""Storyboards of proposals: the strip made from the generated footage (frames inside the range, their
times, the shot a time falls in), and through the API: 404 until the worker's task made it, then served and
referenced by the proposal; moving the in or out point makes a new one under a new key; deleting the
recording deletes them after the commit and restoring it makes them again."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import select

from backend import queue
from tests.autoclip.footage import Footage
from tests.autoclip.test_api import recording  # noqa: F401 - `recording` is a fixture
from tests.conftest import Keys
from workers.media.storyboard import STORYBOARD_FRAMES, TILE_HEIGHT, storyboard_times, write_storyboard


def test_storyboard_frames_lie_inside_the_range_and_show_its_shots(footage: Footage, tmp_path: Path) -> None:
    start, end = 9.0, 24.0  # keyframes every 2 s: the nearest keyframe of 10.5 is 10.0, inside the range
    out = tmp_path / "board.jpg"
    board = write_storyboard(footage.path, start, end, out)
    assert len(board.times) == STORYBOARD_FRAMES
    wanted = storyboard_times(start, end)
    for shown, want in zip(board.times, wanted, strict=True):
        assert start <= shown <= want + 0.001  # a keyframe at or before the wanted time, never before the range
        assert want - shown <= footage.spec.keyint / footage.spec.fps + 0.05
    with Image.open(out) as image:
        assert image.format == "JPEG" and (image.width, image.height) == (board.width, board.height)
        assert image.height == TILE_HEIGHT + 8 and image.width > STORYBOARD_FRAMES * TILE_HEIGHT  # 16:9 tiles
        # Each tile shows the backdrop of the shot its time falls in: tiles in different shots differ.
        tile_w = (image.width - 4) // STORYBOARD_FRAMES - 4
        corners = [image.getpixel((4 + n * (tile_w + 4) + 3, 7)) for n in range(STORYBOARD_FRAMES)]
    shot = [sum(t >= c for c in footage.spec.cuts) for t in board.times]
    for a in range(STORYBOARD_FRAMES):
        for b in range(a + 1, STORYBOARD_FRAMES):
            close = max(abs(x - y) for x, y in zip(corners[a], corners[b], strict=True)) < 40  # type: ignore[arg-type]
            assert close == (shot[a] == shot[b]), (board.times, corners)


def test_a_keyframe_before_the_range_is_decoded_exactly_instead(footage: Footage, tmp_path: Path) -> None:
    # 12.1-12.9: the keyframes at 12.0 and 14.0 are outside; every tile is decoded exactly from 12.0.
    board = write_storyboard(footage.path, 12.1, 12.9, tmp_path / "short.jpg", frames=4)
    assert [round(t, 1) for t in board.times] == [round(t, 1) for t in storyboard_times(12.1, 12.9, 4)]


def test_storyboards_through_the_api(
    client: TestClient, recording: uuid.UUID, keys: Keys, queued: list  # noqa: F811  # type: ignore[type-arg]
) -> None:
    from workers.autoclip import analyse_material, proposal_storyboards

    aid = client.post(f"/api/v1/materials/{recording}/analyses").json()["id"]
    assert analyse_material(aid) == "succeeded"
    queued.clear()
    r = client.post(f"/api/v1/materials/{recording}/proposals", json={"count": 3, "min_s": 4, "max_s": 15})
    assert r.status_code == 201, r.text
    proposals = r.json()
    assert queued == [(queue.PROPOSAL_STORYBOARDS, (str(recording),))]
    p = proposals[0]
    assert p["storyboard"] is None and "storyboard" not in p["links"]
    r = client.get(f"/api/v1/proposals/{p['id']}/storyboard")
    assert r.status_code == 404 and r.json()["type"].endswith("storyboard-not-ready")
    assert r.headers["content-type"].startswith("application/problem+json")

    assert proposal_storyboards(str(recording)) == len(proposals)
    assert proposal_storyboards(str(recording)) == 0  # a redelivery finds nothing left to do
    p = client.get(f"/api/v1/proposals/{p['id']}").json()
    board = p["storyboard"]
    assert board["url"] == p["links"]["storyboard"] == f"/api/v1/proposals/{p['id']}/storyboard"
    assert len(board["times"]) == STORYBOARD_FRAMES and all(p["start"] <= t <= p["end"] for t in board["times"])
    listed = {q["id"]: q for q in client.get(f"/api/v1/materials/{recording}/proposals").json()}
    assert all(q["storyboard"] for q in listed.values())
    r = client.get(board["url"], headers=Keys.auth(keys.viewer))
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(r.content)) as image:
        assert (image.width, image.height) == (board["width"], board["height"])
    etag = r.headers["etag"]
    assert client.get(board["url"], headers={"If-None-Match": etag}).status_code == 304

    # Moving the in point: the old storyboard no longer applies; the task makes one for the new range.
    queued.clear()
    r = client.patch(f"/api/v1/proposals/{p['id']}", json={"start": p["start"] + 1.0})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:  # inside an utterance: try the out point instead
        r = client.patch(f"/api/v1/proposals/{p['id']}", json={"end": p["end"] - 1.0})
    assert r.status_code == 200, r.text
    moved = r.json()
    assert (moved["start"], moved["end"]) != (p["start"], p["end"]), moved
    from backend.autoclip.service import storyboard_key
    from backend.objectstore import get_storage

    old_key = storyboard_key(recording, uuid.UUID(p["id"]), p["start"], p["end"])
    assert moved["storyboard"] is None and queued == [(queue.PROPOSAL_STORYBOARDS, (str(recording), old_key))]
    assert client.get(f"/api/v1/proposals/{p['id']}/storyboard").status_code == 404
    assert get_storage().exists(old_key)
    assert proposal_storyboards(*queued[0][1]) == 1
    assert not get_storage().exists(old_key)  # the old range's storyboard is gone with it
    again = client.get(f"/api/v1/proposals/{p['id']}").json()["storyboard"]
    assert all(moved["start"] <= t <= moved["end"] for t in again["times"])
    r = client.get(again["url"], headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.headers["etag"] != etag
    # A message never makes the worker delete what is not a storyboard of that material.
    from backend.catalogue.models import Material
    from backend.db import session_scope

    with session_scope() as session:
        original = session.get(Material, recording).storage_key  # type: ignore[union-attr]
    assert original and get_storage().exists(original)
    assert proposal_storyboards(str(recording), original, f"storyboards/{recording}/../{original}") == 0
    assert get_storage().exists(original)

    # Proposing again replaces the open proposals: their storyboards go too.
    kept = client.get(f"/api/v1/proposals/{proposals[1]['id']}").json()["storyboard"]
    kept_key = storyboard_key(recording, uuid.UUID(proposals[1]["id"]), proposals[1]["start"], proposals[1]["end"])
    assert kept and get_storage().exists(kept_key)
    queued.clear()
    assert client.post(f"/api/v1/materials/{recording}/proposals", json={"count": 3, "min_s": 4, "max_s": 15}).status_code == 201
    ((name, args),) = queued
    assert name == queue.PROPOSAL_STORYBOARDS and kept_key in args[1:]
    proposal_storyboards(*args)
    assert not get_storage().exists(kept_key)

    # A lost message: the sweep sends it again for proposals left without a storyboard for a while.
    from datetime import timedelta

    from backend.autoclip import service as autoclip
    from backend.autoclip.models import Proposal
    from backend.sqltypes import utcnow

    with session_scope() as session:
        assert autoclip.sweep_storyboards(session) == []  # every one has its storyboard
        row = session.scalars(select(Proposal).where(Proposal.material_id == recording, Proposal.status == "proposed")).first()  # type: ignore[arg-type]
        assert row is not None
        row.storyboard, row.updated_at = None, utcnow() - timedelta(minutes=5)
    with session_scope() as session:
        assert autoclip.sweep_storyboards(session) == []  # not yet: its message may still be on its way
    with session_scope() as session:
        session.get(Proposal, row.id).updated_at = utcnow() - timedelta(minutes=20)  # type: ignore[union-attr]
    queued.clear()
    with session_scope() as session:
        assert autoclip.sweep_storyboards(session) == [recording]
    assert queued == [(queue.PROPOSAL_STORYBOARDS, (str(recording),))]
    assert proposal_storyboards(str(recording)) == 1


def test_a_storyboard_read_in_place_by_ranges_matches_the_file_and_reads_a_part(footage: Footage, tmp_path: Path) -> None:
    from workers.media.ranged import RangedSource

    data = footage.path.read_bytes()
    asked: list[tuple[int, int]] = []

    def read_range(start: int, end: int) -> bytes:
        asked.append((start, end))
        return data[start : end + 1]

    # 64 KiB blocks: the generated recording is only a few MB (a real one is GBs, read in 1 MiB blocks).
    source = RangedSource(Path("originals/live.mp4"), read_range=read_range, length=len(data), block=64 * 1024)
    from_ranges = write_storyboard(source, 20.0, 26.0, tmp_path / "ranged.jpg")
    from_file = write_storyboard(footage.path, 20.0, 26.0, tmp_path / "file.jpg")
    assert from_ranges == from_file
    assert (tmp_path / "ranged.jpg").read_bytes() == (tmp_path / "file.jpg").read_bytes()
    assert all(0 <= a <= b < len(data) for a, b in asked)
    assert source.bytes_fetched < len(data) / 2, (source.bytes_fetched, len(data))  # the index and a few keyframes


def test_deleting_the_recording_deletes_its_storyboards_after_commit_and_a_restore_remakes_them(
    client: TestClient, recording: uuid.UUID, queued: list  # noqa: F811  # type: ignore[type-arg]
) -> None:
    from datetime import timedelta

    from backend.autoclip import service as autoclip
    from backend.autoclip.models import Proposal
    from backend.db import session_scope
    from backend.objectstore import get_storage
    from workers.autoclip import analyse_material, proposal_storyboards

    aid = client.post(f"/api/v1/materials/{recording}/analyses").json()["id"]
    assert analyse_material(aid) == "succeeded"
    proposals = client.post(f"/api/v1/materials/{recording}/proposals", json={"count": 3, "min_s": 4, "max_s": 15}).json()
    assert proposal_storyboards(str(recording)) == len(proposals) > 0
    keys = [autoclip.storyboard_key(recording, uuid.UUID(p["id"]), p["start"], p["end"]) for p in proposals]
    storage = get_storage()
    assert all(storage.exists(k) for k in keys)

    # The delete's transaction drops them from the rows; the message naming their keys goes after its commit.
    queued.clear()
    r = client.delete(f"/api/v1/materials/{recording}")
    assert r.status_code == 200 and r.json()["status"] == "deleted"
    ((name, args),) = queued
    assert name == queue.PROPOSAL_STORYBOARDS and args[0] == str(recording) and sorted(args[1:]) == sorted(keys)
    assert all(client.get(f"/api/v1/proposals/{p['id']}").json()["storyboard"] is None for p in proposals)
    assert proposal_storyboards(*args) == 0  # deleted, and none made for a deleted recording
    assert not any(storage.exists(k) for k in keys)
    queued.clear()
    assert client.delete(f"/api/v1/materials/{recording}").status_code == 200
    assert queued == []  # nothing left to delete

    # A storyboard task that was already running when the recording went records nothing (its image goes).
    want = autoclip.StoryboardWanted(uuid.UUID(proposals[0]["id"]), proposals[0]["start"], proposals[0]["end"], keys[0])
    with session_scope() as session:
        assert not autoclip.store_storyboard(session, want, times=[want.start], width=8, height=8)
        assert autoclip.sweep_storyboards(session, after=timedelta(0)) == []  # none is missing on purpose

    # Restoring the recording makes them again.
    r = client.post(f"/api/v1/materials/{recording}/restore")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    assert queued == [(queue.PROPOSAL_STORYBOARDS, (str(recording),))]
    assert proposal_storyboards(str(recording)) == len(proposals)
    assert all(storage.exists(k) for k in keys)
    with session_scope() as session:
        rows = session.scalars(select(Proposal).where(Proposal.material_id == recording)).all()  # type: ignore[arg-type]
        assert all(row.storyboard for row in rows)
