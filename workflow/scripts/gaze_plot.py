"""Rule gaze_plot: the session's gaze targets and head motion as one figure (report)."""

from egoinstruct.gaze.plot import plot_gaze_session
from egoinstruct.io import atomic_path
from egoinstruct.logutil import rule_logging
from egoinstruct.tables import read_table

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]):
    motion = dict(zip(sm.params.motion_devices, sm.input.motion, strict=True))
    devices = {}
    for device, path in zip(sm.params.devices, sm.input.gaze, strict=True):
        head = read_table(motion[device], "head_motion").to_pandas() if device in motion else None
        devices[device] = (read_table(path, "gaze").to_pandas(), head)
    with atomic_path(sm.output[0]) as tmp:
        plot_gaze_session(sm.wildcards.session, devices, tmp)
