"""Rules predict_steps / predict_states: a held-out session with its fold's model
-> results/predictions/{task}/{method}/{session}.parquet."""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from egoinstruct.baselines import predict_method  # noqa: E402
from egoinstruct.logutil import rule_logging  # noqa: E402
from egoinstruct.settings.dataset import BaselineMethod  # noqa: E402

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    torch.set_num_threads(sm.threads)
    predict_method(
        method=BaselineMethod.from_mapping(sm.params.method),
        model_path=sm.input.model,
        dataset_path=sm.input.dataset,
        task=sm.params.task,
        groups=sm.params.groups,
        classes=sm.params.classes,
        session_labels=sm.params.labels,
        fold=int(sm.params.fold),
        output=sm.output[0],
        device=sm.params.device,
        threads=sm.threads,
        log=log,
    )
