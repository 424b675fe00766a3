"""Rule gaze_debug: a GIF of a head camera's frames with the gaze point, face box and target."""

from egoinstruct.clock import DeviceClock
from egoinstruct.logutil import rule_logging
from egoinstruct.media.reader import input_paths
from egoinstruct.settings.gaze import GazeDebugSettings
from egoinstruct.tables import read_table
from egoinstruct.visual.debug import write_debug_gif

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    n = write_debug_gif(
        input_paths(sm.input.video), sm.output[0], read_table(sm.input.gaze, "gaze").to_pandas(),
        read_table(sm.input.faces, "faces").to_pandas(), DeviceClock.read(sm.input.sync, sm.wildcards.device),
        GazeDebugSettings.from_mapping(sm.params.settings),
    )
    log.info("%s: %d frames", sm.output[0], n)
