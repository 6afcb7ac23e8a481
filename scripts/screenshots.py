"""Take the README's screenshots from a running demo server (`ketaclinic serve --demo`).

python scripts/screenshots.py [--base http://127.0.0.1:8000] [--out docs/img]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

PASSWORD = "ketaclinic-demo-2026"  # noqa: S105  (the demo password printed by `serve --demo`)

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-sync",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--out", default="docs/img", type=Path)
    parser.add_argument("--user", default="prescriber.north")
    parser.add_argument("--mrn", default="N-1002")
    parser.add_argument("--extra", nargs="*", default=[], help="more paths to capture, name=path")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="ketaclinic-shots-")
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            profile,
            executable_path="/usr/bin/chromium",
            headless=True,
            args=ARGS,
            viewport={"width": 1180, "height": 900},
        )
        page = ctx.new_page()
        page.goto(args.base + "/accounts/login/")
        page.get_by_label("Username").fill(args.user)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(args.base + f"/patients/?q={args.mrn}")
        page.locator("#results a").first.click()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(args.out / "chart.png"), full_page=True)
        for item in args.extra:
            name, _, path = item.partition("=")
            page.goto(args.base + path)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(args.out / f"{name}.png"), full_page=True)
        ctx.close()
    shutil.rmtree(profile, ignore_errors=True)
    print(f"screenshots written to {args.out}")


if __name__ == "__main__":
    main()
