"""Rule assemble: a session's features and every task's labels at dataset.fps -> dataset.parquet."""

import json

from egoinstruct.annotations import read_validated
from egoinstruct.dataset.stage import build_session_dataset
from egoinstruct.logutil import rule_logging
from egoinstruct.settings.dataset import TextModelSettings

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    # the inputs of each group are listed in the order of params.devices[group] (role -> device)
    outputs = {
        group: dict(zip(by_role, sm.input[group], strict=True)) for group, by_role in sm.params.devices.items()
    }
    build_session_dataset(
        session=sm.wildcards.session,
        procedure=sm.params.procedure,
        duration_s=float(json.loads(open(sm.input.probe).read())["session_duration_s"]),
        outputs=outputs,
        prosody=sm.input.prosody,
        transcript=sm.input.transcript,
        segments=read_validated(sm.input.annotations),
        fps=float(sm.params.fps),
        text=TextModelSettings.from_mapping(sm.params.text),
        output=sm.output[0],
        visual_roles=sm.params.visual_roles,
        log=log,
    )
