"""Which videos, which class, train or test: the official UCF-101 lists, or a bare tree of class
folders split by *group* as the official splits are."""
# The official lists: classInd.txt, trainlistNN.txt with 1-indexed labels, testlistNN.txt, CRLF
# line ends; the class comes from the *folder* (HandstandPushups/ holds v_HandStandPushups_*).
# A UCF-101 group is one recording (same person, same room): a group in train and test would
# let a classifier win by knowing the room.

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..files import list_lines

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v")
_UCF_NAME = re.compile(r"^v_(?P<cls>.+)_g(?P<group>\d+)_c(?P<clip>\d+)$")


@dataclass(frozen=True)
class Video:
    """One video file, its class (0-indexed) and group ("g08", or the file stem)."""

    path: Path
    label: int
    group: str


@dataclass
class SplitIndex:
    """The videos of one split; ``layout`` is "official" (split lists) or "folders" (bare tree)."""

    classes: list[str]
    train: list[Video]
    test: list[Video]
    split: int
    layout: str
    skipped: list[str] = field(default_factory=list)


def report(message: str, on_error: str, skipped: list[str]) -> None:
    # on_error="skip" keeps the message instead of raising it
    if on_error == "raise":
        raise DataError(message)
    skipped.append(message)


def read_class_index(path) -> list[str]:
    """Class names from classInd.txt: ``names[0]`` is the class labelled 1."""
    path, names = Path(path), {}
    for n, tokens in list_lines(path, "class index"):
        if len(tokens) != 2 or not tokens[0].isdigit() or int(tokens[0]) in names:
            raise DataError(f"{path}:{n}: expected '<label> <ClassName>' with a new label, got {' '.join(tokens)!r}")
        names[int(tokens[0])] = tokens[1]
    if sorted(names) != list(range(1, len(names) + 1)) or not names:
        raise DataError(f"{path}: labels must run 1..{len(names)} without gaps")
    return [names[k] for k in sorted(names)]


def parse_ucf_name(name: str) -> tuple[str, int, int] | None:
    """``"v_YoYo_g08_c03.avi"`` -> ``("YoYo", 8, 3)``; None for other names."""
    m = _UCF_NAME.match(Path(name).stem)
    return (m["cls"], int(m["group"]), int(m["clip"])) if m else None


def _video(path: Path, label: int) -> Video:
    parsed = parse_ucf_name(path.name)
    return Video(path, label, f"g{parsed[1]:02d}" if parsed else path.stem)


def _resolve(root: Path, rel: str, listings: dict[Path, dict[str, str]]) -> Path | None:
    # copies made on case-insensitive file systems do not always keep the lists' letter case
    here = root
    for part in Path(rel).parts:
        if here not in listings:
            listings[here] = {p.name.lower(): p.name for p in here.iterdir()} if here.is_dir() else {}
        if part.lower() not in listings[here]:
            return None
        here = here / listings[here][part.lower()]
    return here if here.is_file() else None


def read_split_list(path, classes: list[str], video_root, on_error="raise") -> tuple[list[Video], list[str]]:
    """(videos, skipped messages) of a list; a line is ``Class/file.avi [label]`` (label 1..K)."""
    path, root = Path(path), Path(video_root)
    lookup = {name.lower(): i for i, name in enumerate(classes)}
    videos, skipped, listings = [], [], {}
    for n, tokens in list_lines(path, "split list"):
        rel = tokens[0].replace("\\", "/")
        folder = rel.split("/")[0] if "/" in rel else None
        label = lookup.get(folder.lower()) if folder else None
        where = f"{path}:{n}:"
        if len(tokens) > 2 or len(tokens) == 2 and not tokens[1].lstrip("-").isdigit():
            problem = f"{where} expected '<Class/file.avi> [whole-number label]', got {' '.join(tokens)!r}"
        elif len(tokens) == 2 and not 1 <= int(tokens[1]) <= len(classes):
            problem = f"{where} label {tokens[1]} is outside classInd.txt (1..{len(classes)})"
        elif len(tokens) == 2 and label not in (None, int(tokens[1]) - 1):
            problem = (f"{where} label {tokens[1]} ({classes[int(tokens[1]) - 1]}) disagrees with the folder "
                       f"{folder!r} (label {label + 1})")
        elif len(tokens) == 1 and label is None:
            problem = f"{where} class folder {folder!r} of {rel!r} is not in classInd.txt"
        else:
            found = _resolve(root, rel, listings)
            problem = None if found else f"{root / rel}: listed in {path.name} line {n} but missing"
        if problem:
            report(problem, on_error, skipped)
        else:
            videos.append(_video(found, int(tokens[1]) - 1 if len(tokens) == 2 else label))
    return videos, skipped


def held_out_groups(split: int, num_groups: int = 25) -> set:
    """The groups split ``split`` tests on: 1-7, 8-14 or 15-21 of 25, scaled to other group counts."""
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split!r}")
    if num_groups < 3:
        raise DataError(f"a group-aware split needs at least 3 groups, found {num_groups}")
    block = max(1, round(num_groups * 7 / 25))
    return set(range((split - 1) * block + 1, split * block + 1))


def group_split(videos: list[Video], split: int = 1) -> tuple[list[Video], list[Video]]:
    """(train, test), every group wholly on one side."""
    # UCF-101 names follow held_out_groups; else 7 in 25 of each class's groups, seeded by the split
    parsed = [parse_ucf_name(v.path.name) for v in videos]
    if videos and all(parsed):
        tests = held_out_groups(split, max(p[1] for p in parsed))
        in_test = [p[1] in tests for p in parsed]
    else:
        rng, test_keys = np.random.default_rng([split, 25]), set()
        for label in sorted({v.label for v in videos}):
            groups = sorted({v.group for v in videos if v.label == label})
            n_test = 0 if len(groups) < 2 else max(1, round(len(groups) * 7 / 25))
            test_keys.update((label, groups[i]) for i in rng.permutation(len(groups))[:n_test])
        in_test = [(v.label, v.group) in test_keys for v in videos]
    return [v for v, t in zip(videos, in_test) if not t], [v for v, t in zip(videos, in_test) if t]


def scan_class_folders(video_root, on_error="raise") -> tuple[list[str], list[Video], list[str]]:
    """(classes, videos, skipped messages) of ``video_root/Class/*.avi``; "." and "_" folders are not classes."""
    root = Path(video_root)
    classes, videos, skipped = [], [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
        if not files:
            report(f"{folder}: class folder has no videos ({', '.join(VIDEO_EXTENSIONS)})", on_error, skipped)
            continue
        videos += [_video(f, len(classes)) for f in files]
        classes.append(folder.name)
    if not classes:
        raise DataError(f"{root}: no class folders with videos found")
    return classes, videos, skipped


def index_ucf101(root, split=1, on_error="raise") -> SplitIndex:
    """Index the official download (``ucfTrainTestlist/``, ``UCF-101/``) or a tree of class folders."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    held_out_groups(split)  # checks split
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data folder does not exist")
    lists = next((d for d in (root / "ucfTrainTestlist", root, root.parent / "ucfTrainTestlist")
                  if (d / "classInd.txt").is_file()), None)
    if lists is None:
        classes, videos, skipped = scan_class_folders(root / "UCF-101" if (root / "UCF-101").is_dir() else root,
                                                      on_error)
        return SplitIndex(classes, *group_split(videos, split), split, "folders", skipped)
    classes = read_class_index(lists / "classInd.txt")
    wanted = {c.lower() for c in classes}
    video_root = next((d for d in (root / "UCF-101", root, lists.parent / "UCF-101", lists.parent)
                       if d.is_dir() and any(p.name.lower() in wanted for p in d.iterdir() if p.is_dir())), None)
    if video_root is None:
        raise DataError(f"{root}: none of the class folders of classInd.txt found here or in {root / 'UCF-101'}")
    train, skipped = read_split_list(lists / f"trainlist{split:02d}.txt", classes, video_root, on_error)
    test, skipped_test = read_split_list(lists / f"testlist{split:02d}.txt", classes, video_root, on_error)
    return SplitIndex(classes, train, test, split, "official", skipped + skipped_test)


def select_classes(index: SplitIndex, classes: list[str]) -> SplitIndex:
    """Only ``classes`` (any letter case), relabelled 0..K-1 in the order given."""
    lookup = {name.lower(): i for i, name in enumerate(index.classes)}
    missing = [c for c in classes if c.lower() not in lookup]
    if missing:
        raise DataError(f"no class {', '.join(map(repr, missing))} among {', '.join(index.classes[:5])}, ...")
    new = {lookup[c.lower()]: i for i, c in enumerate(classes)}
    if len(new) != len(classes) or len(new) < 2:
        raise ValueError(f"classes must name at least 2 different classes, got {list(classes)}")

    train, test = ([Video(v.path, new[v.label], v.group) for v in vs if v.label in new]
                   for vs in (index.train, index.test))
    return SplitIndex([index.classes[o] for o in new], train, test, index.split, index.layout, list(index.skipped))
