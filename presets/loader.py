"""Load the shipped platform files and a deployment's override directory into one PresetCatalog.

File layout (TOML, one platform per file):

    id = "douyin"
    name = { zh = "抖音", en = "Douyin" }
    [sources.creator_guides]            # named sources, referred to by id below
    status = "commonly_cited"
    ref = "..."
    [preset_defaults]                   # merged under every [[presets]] entry of this file
    fps_cap = { value = 60, source = "creator_guides" }
    [[presets]]
    id = "douyin.feed_9x16"
    width = { value = 1080, source = "creator_guides" }
    [[channels]]
    id = "video"
    source = "creator_guides"

An override file with the `id` of a shipped platform changes only what it names: presets and channels
are matched by `id` and their listed fields replaced; unknown ids are added. Any other id adds a platform.
Nothing is cached here: the caller keeps the catalogue (e.g. behind its settings object).
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from presets.schema import Platform, PresetCatalog

SHIPPED_DIR = Path(__file__).resolve().parent / "platforms"

_TOP_KEYS = {"id", "name", "sources", "preset_defaults", "presets", "channels"}


class PresetFileError(ValueError):
    """A platform file is unreadable or invalid; the message names the file(s) and the field."""

    def __init__(self, files: list[Path], field: str, problem: str) -> None:
        self.files = files
        self.field = field
        self.problem = problem
        where = " + ".join(str(f) for f in files)
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


class _Raw:
    """One platform's raw data and the files it was assembled from."""

    def __init__(self, data: dict[str, Any], path: Path) -> None:
        self.data = data
        self.files = [path]


def _read(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise PresetFileError([path], "", f"cannot read TOML: {e}") from e
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise PresetFileError([path], ", ".join(sorted(unknown)), "unknown top-level key")
    if not isinstance(data.get("id"), str):
        raise PresetFileError([path], "id", "missing platform id")
    for key in ("presets", "channels"):
        items = data.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) and "id" in i for i in items):
            raise PresetFileError([path], key, "must be an array of tables, each with an id")
    for key in ("sources", "preset_defaults"):
        if not isinstance(data.get(key, {}), dict):
            raise PresetFileError([path], key, "must be a table")
    return data


def _with_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """Apply a file's preset_defaults to the presets it declares (before any merge)."""
    data = copy.deepcopy(data)
    defaults = data.pop("preset_defaults", {})
    data["presets"] = [
        {**copy.deepcopy(defaults), "platform": data["id"], **p} for p in data.get("presets", [])
    ]
    return data


def _merge_by_id(base: list[dict], extra: list[dict]) -> list[dict]:
    out = [dict(item) for item in base]
    index = {item["id"]: i for i, item in enumerate(out)}
    for item in extra:
        if item["id"] in index:
            out[index[item["id"]]].update(item)
        else:
            index[item["id"]] = len(out)
            out.append(dict(item))
    return out


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    if "name" in override:
        merged["name"] = override["name"]
    merged["sources"] = {**merged.get("sources", {}), **override.get("sources", {})}
    defaults = override.get("preset_defaults", {})
    known = {p["id"] for p in merged["presets"]}
    # Override defaults fill only presets the override adds; listed fields on known presets win.
    new_presets = [
        p if p["id"] in known else {**copy.deepcopy(defaults), "platform": merged["id"], **p}
        for p in override.get("presets", [])
    ]
    merged["presets"] = _merge_by_id(merged["presets"], new_presets)
    merged["channels"] = _merge_by_id(merged.get("channels", []), override.get("channels", []))
    return merged


def _resolve_sources(data: dict[str, Any], files: list[Path]) -> dict[str, Any]:
    """Replace `source = "<id>"` references with the named source tables."""
    sources = data.get("sources", {})

    def resolve(node: Any, path: str) -> Any:
        if isinstance(node, dict):
            out = {k: resolve(v, f"{path}.{k}" if path else k) for k, v in node.items()}
            ref = out.get("source")
            if isinstance(ref, str):
                if ref not in sources:
                    raise PresetFileError(files, f"{path}.source", f"unknown source id {ref!r}")
                out["source"] = sources[ref]
            return out
        if isinstance(node, list):
            return [resolve(v, f"{path}[{_label(v, i)}]") for i, v in enumerate(node)]
        return node

    body = {k: v for k, v in data.items() if k != "sources"}
    return resolve(body, "")


def _label(item: Any, index: int) -> str:
    return str(item["id"]) if isinstance(item, dict) and "id" in item else str(index)


def _validate(raw: _Raw) -> Platform:
    data = _resolve_sources(raw.data, raw.files)
    try:
        return Platform.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc: list[str] = []
        node: Any = data
        for part in err["loc"]:
            if isinstance(part, int) and isinstance(node, list):
                node = node[part] if part < len(node) else None
                loc[-1] = f"{loc[-1]}[{_label(node, part)}]" if loc else str(part)
            else:
                node = node.get(part) if isinstance(node, dict) else None
                loc.append(str(part))
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise PresetFileError(raw.files, ".".join(loc), err["msg"] + more) from e


def load_catalog(override_dir: Path | None = None, *, shipped_dir: Path = SHIPPED_DIR) -> PresetCatalog:
    """Read every shipped platform file, apply the override directory, validate, return the catalogue."""
    raws: dict[str, _Raw] = {}
    for path in sorted(shipped_dir.glob("*.toml")):
        data = _with_defaults(_read(path))
        if data["id"] in raws:
            raise PresetFileError([raws[data["id"]].files[0], path], "id", f"platform {data['id']!r} twice")
        raws[data["id"]] = _Raw(data, path)
    if override_dir is not None:
        if not override_dir.is_dir():
            raise PresetFileError([override_dir], "", "override directory does not exist")
        for path in sorted(override_dir.glob("*.toml")):
            data = _read(path)
            existing = raws.get(data["id"])
            if existing is None:
                raws[data["id"]] = _Raw(_with_defaults(data), path)
            else:
                existing.data = _merge(existing.data, data)
                existing.files.append(path)
    platforms = tuple(_validate(raw) for raw in raws.values())
    try:
        return PresetCatalog(platforms=platforms)
    except ValidationError as e:
        files = [f for raw in raws.values() for f in raw.files]
        raise PresetFileError(files[:1] + files[-1:], "", e.errors()[0]["msg"]) from e
