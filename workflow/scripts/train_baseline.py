"""Rules train_steps / train_states: one method on one fold's training sessions
-> results/models/{task}/{method}/fold{k}/model.ckpt + training.json."""

import os

# Idle OpenMP threads must sleep, not spin: jobs share the cores (set before torch loads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from egoinstruct.baselines import train_method  # noqa: E402
from egoinstruct.logutil import rule_logging  # noqa: E402
from egoinstruct.settings.dataset import BaselineMethod  # noqa: E402

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    torch.set_num_threads(sm.threads)
    summary = train_method(
        method=BaselineMethod.from_mapping(sm.params.method),
        task=sm.params.task,
        dataset_paths=list(sm.input.datasets),
        groups=sm.params.groups,
        classes=sm.params.classes,
        model_path=sm.output.model,
        summary_path=sm.output.summary,
        artifacts_dir=sm.output.artifacts,
        seed=sm.params.seed,
        device=sm.params.device,
        threads=sm.threads,
        log=log,
    )
    log.info("fold %s trained in %.1f s", sm.wildcards.fold, summary["seconds"])
