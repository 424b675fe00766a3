"""Regenerate recording.mp4 and log/ from the shared real Aria recording with projectaria-tools'
own vrs_to_mp4 exporter (see README.md). Needs moviepy and an ffmpeg/ffprobe on PATH:

    pip install --target /tmp/mpy moviepy==2.2.1 proglog decorator python-dotenv imageio
    PYTHONPATH=/tmp/mpy python tests/data/aria_vrs_to_mp4/make_export.py
"""

from pathlib import Path

from projectaria_tools.tools.vrs_to_mp4.vrs_to_mp4_utils import convert_vrs_to_mp4

HERE = Path(__file__).resolve().parent
VRS = HERE.parents[3] / "shared" / "fixtures" / "real" / "aria" / "gen1_aea" / "recording.vrs"

if __name__ == "__main__":
    convert_vrs_to_mp4(str(VRS), str(HERE / "recording.mp4"), log_folder=str(HERE / "log"))
