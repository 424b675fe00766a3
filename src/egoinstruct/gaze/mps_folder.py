"""Find the files of one recording's Project Aria MPS output folder, as MPS delivers it.

MPS delivers one folder per recording, ``mps_<name>_vrs/``, holding ``eye_gaze/``, ``slam/``,
``hand_tracking/`` … (older deliveries and Ego-Exo4D name ``slam/`` ``trajectory/``).
:func:`find_mps_outputs` takes that folder — or the ``mps/`` folder of a recording, any folder
that holds ``eye_gaze/`` directly, the ``eye_gaze/`` folder itself, or a recording folder with
one ``mps/`` or one ``mps_*_vrs/`` inside — and finds, in this order (the first that exists
wins; all paths relative to the MPS folder):

eye gaze, ``eye_gaze="general"``
    ``eye_gaze/general_eye_gaze.csv``, ``eye_gaze/generalized_eye_gaze.csv`` (older name),
    ``eye_gaze/eyegaze.csv`` (oldest), ``eye_gaze_vergence/generalized_gaze.csv`` (the
    current-model re-run in projectaria-tools' sample data; last, because a delivery's
    ``eye_gaze/`` is what MPS computed for the recording).
eye gaze, ``eye_gaze="personalized"``
    ``eye_gaze/personalized_eye_gaze.csv``, ``eye_gaze/calibrated_eye_gaze.csv`` (older name).
    When neither exists (the wearer did no in-session calibration), the general file is used
    instead and a warning saying so is recorded in :attr:`MpsOutputs.warnings` (and logged).
SLAM trajectory
    ``slam/closed_loop_trajectory.csv``, ``trajectory/closed_loop_trajectory.csv``, then the
    open-loop ones in the same two folders (closed loop is the better estimate).
online calibration
    ``online_calibration.jsonl`` in ``slam/``, else ``trajectory/``.
summaries
    ``summary.json`` of the eye gaze (in the folder the CSV came from), of SLAM (``slam/``, else
    ``trajectory/``) and of hand tracking (``hand_tracking/``).

:class:`MpsOutputs` records the files it used and every candidate it looked for and did not find,
as plain data (:meth:`MpsOutputs.to_dict`) for the probe JSON. An MPS folder without eye gaze is
an :class:`InputError` naming the folder, the names looked for and the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from egoinstruct.errors import InputError

log = logging.getLogger(__name__)

EYE_GAZE_KINDS = ("general", "personalized")
GENERAL_EYE_GAZE = (
    "eye_gaze/general_eye_gaze.csv",
    "eye_gaze/generalized_eye_gaze.csv",
    "eye_gaze/eyegaze.csv",
    "eye_gaze_vergence/generalized_gaze.csv",
)
PERSONALIZED_EYE_GAZE = ("eye_gaze/personalized_eye_gaze.csv", "eye_gaze/calibrated_eye_gaze.csv")
SLAM_FOLDERS = ("slam", "trajectory")
TRAJECTORIES = (
    "slam/closed_loop_trajectory.csv",
    "trajectory/closed_loop_trajectory.csv",
    "slam/open_loop_trajectory.csv",
    "trajectory/open_loop_trajectory.csv",
)
ONLINE_CALIBRATIONS = ("slam/online_calibration.jsonl", "trajectory/online_calibration.jsonl")
# every file name an MPS eye-gaze CSV has had
EYE_GAZE_FILE_NAMES = tuple(dict.fromkeys(Path(p).name for p in (*GENERAL_EYE_GAZE, *PERSONALIZED_EYE_GAZE)))
# sub-folders that mark a folder as an MPS output folder
_MPS_PARTS = ("eye_gaze", "eye_gaze_vergence", *SLAM_FOLDERS, "hand_tracking")


@dataclass
class MpsOutputs:
    """The files found in one MPS output folder (absolute paths; ``None`` when absent)."""

    root: Path  # the MPS folder the paths below are in
    eye_gaze: Path  # the eye-gaze CSV to use
    eye_gaze_requested: str  # "general" | "personalized"
    eye_gaze_kind: str  # what eye_gaze is: "general" | "personalized"
    trajectory: Path | None = None
    trajectory_kind: str | None = None  # "closed_loop" | "open_loop"
    online_calibration: Path | None = None
    summaries: dict[str, Path] = field(default_factory=dict)  # eye_gaze | slam | hand_tracking
    not_found: list[str] = field(default_factory=list)  # looked for (relative to root), absent
    unused_eye_gaze: list[Path] = field(default_factory=list)  # other eye-gaze CSVs present
    warnings: list[str] = field(default_factory=list)

    def used_files(self) -> list[str]:
        """The files the pipeline reads from the folder: the eye gaze, the trajectory and the
        online calibration when present (rule inputs, so editing one reruns what reads it)."""
        return [str(p) for p in (self.eye_gaze, self.trajectory, self.online_calibration) if p is not None]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (paths as strings) for a probe JSON."""
        return {
            "root": str(self.root),
            "eye_gaze": str(self.eye_gaze),
            "eye_gaze_requested": self.eye_gaze_requested,
            "eye_gaze_kind": self.eye_gaze_kind,
            "trajectory": None if self.trajectory is None else str(self.trajectory),
            "trajectory_kind": self.trajectory_kind,
            "online_calibration": None if self.online_calibration is None else str(self.online_calibration),
            "summaries": {name: str(path) for name, path in self.summaries.items()},
            "not_found": list(self.not_found),
            "unused_eye_gaze": [str(p) for p in self.unused_eye_gaze],
            "warnings": list(self.warnings),
        }


class _Listing:
    """Which files exist: on disk, or a given set (a folder a workflow rule writes later)."""

    def __init__(self, files: Collection[str | Path] | None) -> None:
        self.files = None if files is None else {Path(f) for f in files}

    def is_file(self, path: Path) -> bool:
        return path.is_file() if self.files is None else path in self.files

    def is_dir(self, path: Path) -> bool:
        return path.is_dir() if self.files is None else any(path in f.parents for f in self.files)


def _is_mps_root(folder: Path, listing: _Listing | None = None) -> bool:
    listing = listing or _Listing(None)
    return any(listing.is_dir(folder / part) for part in _MPS_PARTS)


def mps_root(folder: str | Path, files: Collection[str | Path] | None = None) -> Path:
    """The MPS output folder meant by ``folder`` (see the module docstring for what is accepted);
    ``files``: see :func:`find_mps_outputs`."""
    folder = Path(folder)
    if files is not None:
        listing = _Listing(files)
        if _is_mps_root(folder, listing):
            return folder
        if folder.name in ("eye_gaze", "eye_gaze_vergence"):
            return folder.parent
        return folder
    if not folder.exists():
        raise InputError(f"{folder}: MPS folder not found; check the path in the sample sheet")
    if not folder.is_dir():
        raise InputError(
            f"{folder}: is a file, not an MPS folder; give the recording's MPS output folder "
            "(mps_<name>_vrs/ with eye_gaze/ inside), or give an eye-gaze CSV with kind gaze_csv"
        )
    if _is_mps_root(folder):
        return folder
    if folder.name in ("eye_gaze", "eye_gaze_vergence"):
        return folder.parent
    inner = [p for p in (folder / "mps", *sorted(folder.glob("mps_*_vrs"))) if p.is_dir() and _is_mps_root(p)]
    if len(inner) == 1:
        return inner[0]
    if len(inner) > 1:
        raise InputError(
            f"{folder}: holds {len(inner)} MPS output folders ({', '.join(p.name for p in inner)}); "
            "give the one of this recording"
        )
    return folder  # nothing MPS-like: the eye-gaze search below says what it looked for


def _first(root: Path, candidates: tuple[str, ...], not_found: list[str],
           listing: _Listing | None = None) -> Path | None:
    listing = listing or _Listing(None)
    for relative in candidates:
        path = root / relative
        if listing.is_file(path):
            return path
        not_found.append(relative)
    return None


def find_mps_outputs(folder: str | Path, eye_gaze: str = "general",
                     files: Collection[str | Path] | None = None) -> MpsOutputs:
    """The eye gaze, trajectory, online calibration and summaries of one recording's MPS folder.

    ``eye_gaze`` chooses ``"general"`` or ``"personalized"`` eye gaze. Personalized gaze asked for
    but absent is *not* an error: the general file is used and the fallback is recorded in
    :attr:`MpsOutputs.warnings`. No eye-gaze CSV at all is an :class:`InputError`. ``files``,
    when given, are the files the folder will hold (a folder a workflow rule writes later, such
    as a demo device's), looked up instead of the disk.
    """
    if eye_gaze not in EYE_GAZE_KINDS:
        raise InputError(f"eye_gaze = {eye_gaze!r}; expected one of {', '.join(EYE_GAZE_KINDS)}")
    listing = _Listing(files)
    root = mps_root(folder, files)
    not_found: list[str] = []
    warnings: list[str] = []
    kind = eye_gaze
    gaze = None
    if eye_gaze == "personalized":
        gaze = _first(root, PERSONALIZED_EYE_GAZE, not_found, listing)
        if gaze is None:
            kind = "general"
            warnings.append(
                f"{root}: no personalized eye gaze ({' or '.join(PERSONALIZED_EYE_GAZE)}; MPS writes it "
                "only after an in-session eye-gaze calibration); using the general eye gaze instead"
            )
    if gaze is None:
        gaze = _first(root, GENERAL_EYE_GAZE, not_found, listing)
    if gaze is None:
        raise InputError(
            f"{root}: no MPS eye gaze in this folder; looked for {', '.join(not_found)}. Request eye "
            "gaze when submitting the recording to MPS (or download the eye_gaze/ folder of its "
            "delivery), or give the eye-gaze CSV itself in the sample sheet with kind gaze_csv"
        )
    for message in warnings:
        log.warning(message)
    unused = [root / p for p in (*PERSONALIZED_EYE_GAZE, *GENERAL_EYE_GAZE) if listing.is_file(root / p) and root / p != gaze]
    trajectory = _first(root, TRAJECTORIES, not_found, listing)
    calibration = _first(root, ONLINE_CALIBRATIONS, not_found, listing)
    summaries: dict[str, Path] = {}
    for name, candidates in (
        ("eye_gaze", (str(gaze.parent.relative_to(root) / "summary.json"),)),
        ("slam", tuple(f"{f}/summary.json" for f in SLAM_FOLDERS)),
        ("hand_tracking", ("hand_tracking/summary.json",)),
    ):
        found = _first(root, candidates, not_found, listing)
        if found is not None:
            summaries[name] = found
    return MpsOutputs(
        root=root,
        eye_gaze=gaze,
        eye_gaze_requested=eye_gaze,
        eye_gaze_kind=kind,
        trajectory=trajectory,
        trajectory_kind=None if trajectory is None else trajectory.name.removesuffix("_trajectory.csv"),
        online_calibration=calibration,
        summaries=summaries,
        not_found=not_found,
        unused_eye_gaze=unused,
        warnings=warnings,
    )


def find_trajectory(root: str | Path) -> Path | None:
    """The SLAM trajectory of an MPS folder (closed loop first; ``slam/`` or ``trajectory/``)."""
    return _first(Path(root), TRAJECTORIES, [])


def find_mps_trajectory(gaze_csv: str | Path | None) -> list[str]:
    """``[path]`` of the MPS SLAM trajectory that belongs with an MPS eye-gaze CSV
    (``<mps>/eye_gaze/x.csv`` → ``<mps>/slam/closed_loop_trajectory.csv``, or ``trajectory/``
    in older deliveries; closed loop first), or ``[]``. A list so a Snakemake input function can
    return it as is."""
    if not gaze_csv:
        return []
    found = find_trajectory(Path(gaze_csv).parent.parent)
    return [str(found)] if found is not None else []
