"""The page in a real browser: headless Chromium (Debian's `chromium`) loads index.html from disk and takes its screenshot.

Used by `minigrad tour --screenshot PNG` (the README's docs/tour.png) and by the tour's
test, which checks that every image of the page loads. Chromium runs with no network
features, a throwaway profile and no GPU.
"""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Appended to a copy of the page (the page itself has no script): after load, write each image's
# state and the page's height into the DOM, where --dump-dom shows them.
PROBE = ("<script>window.addEventListener('load', () => { const p = document.createElement('pre'); p.id = 'probe';"
         " p.textContent = document.documentElement.scrollHeight + ' ' + [...document.images].map(i => i.complete"
         " + ':' + i.naturalWidth + 'x' + i.naturalHeight).join(' '); document.body.appendChild(p); });</script>")


def find_chromium():
    """The chromium executable, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def run_chromium(*args, timeout=120):
    """Run headless Chromium with a throwaway profile; returns the CompletedProcess (stdout as text)."""
    executable = find_chromium()
    if executable is None:
        raise FileNotFoundError("chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="minigrad-chromium-") as profile:
        return subprocess.run([executable, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout)


def probe(page):
    """(page height in px, [(complete, width, height)] of every <img>) as Chromium sees ``page`` after load."""
    page = Path(page).resolve()
    copy = page.with_name(f".probe-{os.getpid()}.html")
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    try:
        dom = run_chromium("--window-size=1200,1000", "--virtual-time-budget=10000", "--dump-dom", copy.as_uri()).stdout
    finally:
        copy.unlink()
    found = re.search(r'<pre id="probe">([^<]*)</pre>', dom)
    if not found:
        raise RuntimeError(f"Chromium did not run the page's load probe; its DOM ends with: {dom[-300:]!r}")
    height, *states = found.group(1).split()
    images = []
    for state in states:
        complete, size = state.split(":")
        width, h = map(int, size.split("x"))
        images.append((complete == "true", width, h))
    return int(height), images


def screenshot(page, path, width=700, max_bytes=500_000):
    """Screenshot the whole of ``page`` at 1200 px, scaled and quantised into a PNG under ``max_bytes``; returns path.

    It tries ``width`` px with 128 colours first, then fewer colours and narrower
    pictures, until the file fits (the README's picture must stay small).
    """
    from PIL import Image

    height, _ = probe(page)
    with tempfile.TemporaryDirectory(prefix="minigrad-shot-") as tmp:
        raw = os.path.join(tmp, "shot.png")
        run_chromium(f"--screenshot={raw}", f"--window-size=1200,{height}", Path(page).resolve().as_uri())
        full = Image.open(raw).convert("RGB")
        part = f"{path}.{os.getpid()}.tmp.png"
        for scale, colors in ((1.0, 128), (1.0, 64), (0.9, 64), (0.8, 48), (0.7, 32)):
            w = round(width * scale)
            image = full.resize((w, round(full.height * w / full.width)), Image.LANCZOS).quantize(colors=colors)
            image.save(part, optimize=True)
            if os.path.getsize(part) <= max_bytes:
                break
        os.replace(part, path)
    return path
