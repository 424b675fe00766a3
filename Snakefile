# egoinstruct: head-mounted recordings of face-to-face instruction -> synced multimodal tables
# -> task baselines and zero-shot MLLMs -> one metrics report.
#
#   snakemake --cores 8              # the whole pipeline (demo sessions by default)
#   snakemake --cores 8 --report results/report.html
#
# Stages live in workflow/rules/*.smk; their logic is the `egoinstruct` package (src/).
from snakemake.utils import min_version

min_version("9.0")


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


rule all:
    input:
        all_outputs(),
    default_target: True
