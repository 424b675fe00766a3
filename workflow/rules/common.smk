# The only place that reads the configuration and the sample sheets. Rules get everything they
# need through the input functions and values defined here.
import re
from pathlib import Path

from snakemake.utils import validate

from egoinstruct.sheet import (
    check_paths_exist,
    read_annotation_sheet,
    read_recordings,
)

validate(config, schema="../schemas/config.schema.yaml")

RECORDINGS = read_recordings(config["recordings"], config["reference_role"])
ANNOTATIONS = read_annotation_sheet(config["annotations"], config["labels_dir"])
SESSIONS = list(dict.fromkeys(RECORDINGS.session))
DEMO = config["demo"]
DEMO_ROOT = Path(DEMO["root"])

# Inputs under the demo root are made by the demo_session rule; everything else must exist now,
# so a typo fails here with the sheet line instead of as a missing-input error later.
_generated = DEMO_ROOT if DEMO["enabled"] else None
check_paths_exist(RECORDINGS, config["recordings"], _generated)
check_paths_exist(ANNOTATIONS, config["annotations"], _generated)
_unknown = sorted(set(ANNOTATIONS.session) - set(SESSIONS))
if _unknown:
    raise ValueError(
        f"{config['annotations']}: session(s) {', '.join(_unknown)} are not in "
        f"{config['recordings']}; fix the session names or add their recordings"
    )


def _one_of(values):
    return "|".join(re.escape(v) for v in sorted(set(values)))


wildcard_constraints:
    session=_one_of(SESSIONS),
    device=_one_of(RECORDINGS.device),


def session_rows(session):
    """The sample-sheet rows of one session, as plain records (used as params, so editing a
    session's rows reruns only that session's jobs)."""
    rows = RECORDINGS[RECORDINGS.session == session]
    return rows[["session", "device", "role", "kind", "path", "offset_s", "fold", "line"]].to_dict(
        orient="records"
    )


def session_annotation_rows(session):
    rows = ANNOTATIONS[ANNOTATIONS.session == session]
    return rows[["session", "procedure", "path", "line"]].to_dict(orient="records")


def session_inputs(wildcards):
    """Every input file of a session: its recordings and its annotation files."""
    return {
        "recordings": RECORDINGS.loc[RECORDINGS.session == wildcards.session, "path"].tolist(),
        "annotations": ANNOTATIONS.loc[ANNOTATIONS.session == wildcards.session, "path"].tolist(),
    }


def session_procedure(session):
    rows = ANNOTATIONS[ANNOTATIONS.session == session]
    return rows.procedure.iloc[0] if not rows.empty else None


def all_outputs():
    """What `snakemake` with no target builds: every stage that exists so far."""
    return [
        *expand("results/sessions/{session}/probe.json", session=SESSIONS),
        "results/data/inputs_overview.tsv",
    ]
