"""egoinstruct: head-mounted recordings of face-to-face instruction → synced multimodal tables →
baselines and zero-shot MLLMs → one metrics report."""

__version__ = "0.1.0"
