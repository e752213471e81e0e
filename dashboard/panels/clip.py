"""The Export tab's clip of the current view: made in a thread of its own while the page
stays usable, its progress shown by a part of the page that looks every second, then
offered for download (behind the page's sign-in, like every download)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from dataclasses import dataclass

import streamlit as st

from dashboard import keys
from dashboard.state import TIME_STEPS, TIME_WINDOWS, ViewState
from geo.errors import FlankwatchError
from geo.store.base import Store

log = logging.getLogger("flankwatch.dashboard")

#: The clip formats offered: label and media type.
CLIP_FORMATS = {
    ".mp4": ("MP4 (H.264: browsers, PowerPoint)", "video/mp4"),
    ".webm": ("WebM (VP9: web pages)", "video/webm"),
    ".gif": ("GIF (960 pixels wide)", "image/gif"),
}
#: The time control's windows, in words.
WINDOWS = {w: "cumulative" if w is None else f"{w} step{'s' if w > 1 else ''}"
           for w in TIME_WINDOWS}


@dataclass
class ClipJob:
    """A clip being made: what was asked, how far it is, then its bytes or why not."""

    asked: tuple
    suffix: str
    done: int = 0
    total: int = 0
    data: bytes | None = None
    error: str = ""
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


def start_clip(store: Store, request, suffix: str, asked: tuple) -> ClipJob:
    """Make the clip of ``request`` in a background thread; returns its job."""
    from dashboard.export import export_bytes

    job = ClipJob(asked=asked, suffix=suffix)

    def told(done: int, total: int) -> None:
        job.done, job.total = done, total

    def work() -> None:
        try:
            job.data = export_bytes(store, request, suffix, progress=told)
        except (FlankwatchError, ValueError) as exc:
            job.error = str(exc)
        except Exception as exc:  # a bug: said on the page, logged in full
            log.exception("the clip could not be made")
            job.error = f"internal error ({type(exc).__name__}); please report it"

    job.thread = threading.Thread(target=work, name="flankwatch-clip", daemon=True)
    job.thread.start()
    return job


def clip_controls(store: Store, view: ViewState, request) -> None:
    """Format, step, window and speed of a clip of the current view, and the button that
    starts it in the background."""
    from dashboard.animation import AnimationOptions

    st.caption("A clip: one briefing map per step of the period, as the map's time "
               "control plays it (1920 × 1080):")
    cols = st.columns(4)
    suffix = cols[0].selectbox("Clip format", list(CLIP_FORMATS), key=keys.CLIP_FORMAT,
                               format_func=lambda k: CLIP_FORMATS[k][0])
    step = cols[1].selectbox("Step", TIME_STEPS, index=TIME_STEPS.index("day"),
                             key=keys.CLIP_STEP)
    window = cols[2].selectbox("Window", list(WINDOWS), index=list(WINDOWS).index(7),
                               key=keys.CLIP_WINDOW, format_func=WINDOWS.get)
    fps = cols[3].number_input("Speed (steps a second)", 1, 30, 4, key=keys.CLIP_FPS)
    animation = AnimationOptions(step=step, window=window, fps=int(fps))
    clip = dataclasses.replace(request, size="slide-16x9", dpi=144, animation=animation)
    asked = (view, suffix, step, window, int(fps), request.title, request.marking)
    job: ClipJob | None = st.session_state.get(keys.CLIP_JOB)
    busy = job is not None and job.running
    if st.button("Make the clip", key=keys.CLIP_MAKE, disabled=busy):
        st.session_state[keys.CLIP_JOB] = job = start_clip(store, clip, suffix, asked)
    if job is not None and job.asked == asked:
        clip_progress(asked)


@st.fragment(run_every=1.0)
def clip_progress(asked: tuple) -> None:
    """The clip's progress bar while it is made (looked at every second), then its
    download button or why it could not be made."""
    job: ClipJob | None = st.session_state.get(keys.CLIP_JOB)
    if job is None or job.asked != asked:
        return
    if job.running:
        share = job.done / job.total if job.total else 0.0
        text = (f"Frame {job.done:,} of {job.total:,}" if job.total
                else "Drawing the map…")
        st.progress(min(share, 1.0), text=text)
    elif job.error:
        st.error(f"The clip could not be made: {job.error}")
    elif job.data is not None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
        st.download_button(f"Download the clip ({len(job.data) / 1e6:.1f} MB)",
                           data=job.data, file_name=f"flankwatch-clip-{stamp}{job.suffix}",
                           mime=CLIP_FORMATS[job.suffix][1], key=keys.CLIP_DOWNLOAD,
                           on_click="ignore")
