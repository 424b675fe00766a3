"""Zero-shot multimodal-LLM inference over sliding windows of a session.

The stage cuts each session into windows (:mod:`.windows`), renders one versioned prompt per
window and task (:mod:`.prompts`), sends it to a model through one of several backends
(:mod:`.backends`: an OpenAI-compatible server, llama.cpp in process, a local transformers
model) with an append-only response cache and bounded, retried calls (:mod:`.cache`,
:mod:`.runner`), parses the answer into a label of the task's label set (:mod:`.parse`) and
turns window answers into frame-level predictions (:mod:`.predictions`). :mod:`.stage` ties it
together for the workflow; docs/mllm.md describes the design and the measured figures.
"""
