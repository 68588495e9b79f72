"""Screenshots of every page, as a class would see them, into docs/screenshots/.

    python scripts/screenshots.py                       # both views, every page
    python scripts/screenshots.py --views phone --pages explorer
    python scripts/screenshots.py --model /tmp/big.pth --views desktop   # a checkpoint loaded by path first

Views: `classroom` 1280 × 720 with ?classroom=1 (a projector), `phone` 390 × 844 (a phone's
viewport, touch, 3× pixels scaled down to 1×), `desktop` 1280 × 720 in normal mode. Each shot is the
whole page: Streamlit scrolls inside its main container, so the window is made as tall as that
container's content (up to --max-height px) before the shot. The app is started as the README does
(scripts/st_client.start_server, 127.0.0.1, a free port) and driven by Debian's Chromium.

Files: <page>-classroom-1280x720.png, <page>-phone-390x844.png, <page>-1280x720.png (and
explorer-<section>-... for each of the Explorer's sections with --sections), with a -<tag> suffix
when --tag is given (e.g. --tag 169m); saved with a 256-colour palette (a third of the bytes).
"""
from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

from app import explorer_sections
from scripts.st_client import LOOPBACK, free_port, start_server, stop_server
from scripts.st_page import load_path, wait_script

ROOT = Path(__file__).resolve().parent.parent

PHONE_AGENT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
               "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
VIEWS = {"classroom": dict(width=1280, height=720, classroom=True, name="classroom-1280x720"),
         "phone": dict(width=390, height=844, classroom=False, name="phone-390x844"),
         "desktop": dict(width=1280, height=720, classroom=False, name="1280x720")}
PAGES = {"home": ("", "Home"), "explorer": ("explorer", "Explorer"),
         "scheduling_lab": ("scheduling_lab", "Scheduling Lab"), "lessons": ("lessons", "Lessons"),
         "why_rwkv": ("why_rwkv", "Why RWKV, measured"), "memory_lab": ("memory_lab", "Memory lab")}
# the Explorer's sections that draw on opening, past the first (open by default, in the page's own shot)
SECTIONS = [s.label for s in list(explorer_sections.SECTIONS.values())[1:] if s.chart]
DRAWN = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
                .every(c => c.querySelector('.main-svg'))
             && !document.querySelector('[data-testid="stSkeleton"], .stSkeleton')"""
TIMEOUT_MS = 180_000


def wait_idle(page) -> None:
    """Until the script has finished and stays finished, and the charts have drawn."""
    wait_script(page, TIMEOUT_MS, pad_ms=600)
    try:
        page.wait_for_function(DRAWN, timeout=60_000)
    except Exception:          # noqa: BLE001  (a shot with a chart still drawing says so below)
        print("  (a chart was still drawing)", flush=True)
    page.wait_for_timeout(800)


def full_height(page) -> int:
    """The height of the page's content: Streamlit's main container scrolls, the window does not."""
    return int(page.evaluate("""() => {
        const m = document.querySelector('[data-testid="stMain"]') || document.body;
        const inner = document.querySelector('[data-testid="stMainBlockContainer"]') || m;
        return Math.max(m.scrollHeight, inner.scrollHeight + inner.getBoundingClientRect().top);
    }"""))


def shot(page, path: Path, width: int, height: int, max_height: int) -> None:
    page.set_viewport_size({"width": width, "height": min(max_height, max(height, full_height(page)))})
    page.wait_for_timeout(3000)     # charts re-lay out to the new size
    page.wait_for_function(DRAWN, timeout=60_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(path), timeout=90_000)
    small(path)
    page.set_viewport_size({"width": width, "height": height})
    errors = page.locator('[data-testid="stException"]').count()
    print(f"{path.name}: {page.viewport_size['width']} px wide, {errors} exceptions", flush=True)


def small(path: Path) -> None:
    """The shot with a 256-colour palette: text and flat colours stay sharp, the file shrinks ~3×."""
    from PIL import Image
    with Image.open(path) as im:
        im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def goto_page(page, base: str, name: str, classroom: bool) -> None:
    """Open a page by its link in the top navigation (the session, and a loaded model, stay);
    by its URL when the link is not on screen (a phone's menu)."""
    slug, title = PAGES[name]
    link = page.locator(f'header a[href$="/{slug}"]' if slug else 'header a[href$="/"]').first
    if link.count() and link.is_visible():
        link.click()
    else:
        page.goto(f"{base}/{slug}" + ("?classroom=1" if classroom else ""), timeout=TIMEOUT_MS)
    wait_idle(page)


def load_model(page, path: str) -> None:
    side = page.locator('[data-testid="stSidebar"]')
    side.get_by_text("Local checkpoint path").first.click()
    wait_idle(page)
    load_path(page, path, wait=wait_idle)
    print("sidebar:", side.inner_text()[:400].replace("\n", " | "), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--views", nargs="+", default=["classroom", "phone"], choices=list(VIEWS))
    ap.add_argument("--pages", nargs="+", default=list(PAGES), choices=list(PAGES))
    ap.add_argument("--sections", action="store_true", help="also each of the Explorer's 'Look inside' sections")
    ap.add_argument("--model", help="a checkpoint to load by path in the sidebar first (desktop view)")
    ap.add_argument("--tag", default="", help="a suffix for the file names")
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--max-height", type=int, default=7000)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = f"-{args.tag}" if args.tag else ""
    port = free_port()
    env = {"OMP_NUM_THREADS": "1"}
    if args.model:      # a checkpoint outside the models folder: this server may read any path (local only)
        env["RWKV_LOCAL_PATHS"] = "any"
    server = start_server(port, Path(tempfile.mkdtemp()) / "server.log", env=env)
    base = f"http://{LOOPBACK}:{port}"
    t0 = time.monotonic()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for view in args.views:
                v = VIEWS[view]
                phone = view == "phone"
                # a phone's own user agent too: the Lab lays its panels out one per row for "Mobi"
                ctx = browser.new_context(viewport={"width": v["width"], "height": v["height"]},
                                          is_mobile=phone, has_touch=phone,
                                          **({"user_agent": PHONE_AGENT} if phone else {}))
                page = ctx.new_page()
                page.goto(base + ("/?classroom=1" if v["classroom"] else "/"), timeout=TIMEOUT_MS)
                wait_idle(page)
                if args.model:
                    load_model(page, args.model)
                for name in args.pages:
                    goto_page(page, base, name, v["classroom"])
                    shot(page, out / f"{name}-{v['name']}{suffix}.png", v["width"], v["height"], args.max_height)
                    if name == "explorer" and args.sections:
                        for section in SECTIONS:
                            page.locator('[data-testid="stRadio"]').get_by_text(section, exact=True).first.click()
                            wait_idle(page)
                            slug = re.sub(r"[^a-z]+", "_", section.lower()).strip("_")
                            shot(page, out / f"explorer-{slug}-{v['name']}{suffix}.png", v["width"], v["height"],
                                 args.max_height)
                ctx.close()
            browser.close()
    finally:
        stop_server(server)
    print(f"done in {time.monotonic() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
