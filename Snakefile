# egoinstruct: head-mounted recordings of face-to-face instruction -> synced multimodal tables
# -> task baselines and zero-shot MLLMs -> one metrics report.
#
#   snakemake --cores 8              # the whole pipeline (demo sessions by default)
#   snakemake --cores 8 --report results/report.html
#
# Stages live in workflow/rules/*.smk; their logic is the `egoinstruct` package (src/).
from pathlib import Path

from snakemake.utils import min_version

from egoinstruct.config import read_config_file

min_version("9.0")

# Read by our own reader first: a YAML syntax error then names its line and column (Snakemake's
# own message does not). Config files given with --configfile are read by Snakemake alone.
if not workflow.overwrite_configfiles and Path("config/config.yaml").is_file():
    read_config_file("config/config.yaml")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/speech.smk"
include: "workflow/rules/gaze.smk"
include: "workflow/rules/mllm.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/report.smk"


# Bookkeeping jobs of a second or two (merge JSON, list inputs, assign folds): on a cluster they
# run where Snakemake runs instead of waiting in the queue.
localrules:
    all,
    validate_session,
    inputs_overview,
    sync_session,
    folds,
    mllm_summary,
    mllm_overview,


rule all:
    input:
        all_outputs(),
    default_target: True
