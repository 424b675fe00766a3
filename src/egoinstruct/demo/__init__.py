"""Deterministic demo-session generator: synthetic recordings shaped like real ones.

A seeded generator writes, per session, three videos with audio (two Aria head cameras and an exo
GoPro), Project Aria MPS eye-gaze CSVs with camera calibrations, step / conversation-state
annotations (TSV, optionally ELAN) and truth files (clock offsets, scripted dialogue, per-frame
gaze pixels and partner face boxes) that later pipeline stages are checked against. See
docs/demo_data.md.

Public API: :class:`DemoSettings`, :data:`DEVICES`, :data:`PROCEDURES`, :func:`session_files`,
:func:`generate_session`, :func:`demo_files`, :func:`demo_sheets`, :func:`procedure_for`.
"""

from egoinstruct.demo.generate import (
    DEVICES,
    PROCEDURES,
    DemoSettings,
    demo_files,
    demo_sheets,
    generate_session,
    procedure_for,
    session_files,
)

__all__ = [
    "DEVICES",
    "PROCEDURES",
    "DemoSettings",
    "demo_files",
    "demo_sheets",
    "generate_session",
    "procedure_for",
    "session_files",
]
