"""Draw the platform's home-screen icons (app/static/icons/icon-192.png, icon-512.png, apple-touch-icon.png).

The PNGs are committed; run this again only to change them:  .venv/bin/python scripts/make_icons.py
A blue square (the navbar's #1f5fa8; the launcher rounds or masks the corners itself) with "继教" in white, kept
inside the central 80 % so a maskable crop loses nothing.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ICONS = Path(__file__).resolve().parents[1] / "app" / "static" / "icons"
BLUE, WHITE = (31, 95, 168), (255, 255, 255)
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"


def draw(size: int) -> Image.Image:
    image = Image.new("RGB", (size, size), BLUE)
    pen = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, int(size * 0.34))
    text = "继教"
    left, top, right, bottom = pen.textbbox((0, 0), text, font=font)
    pen.text(((size - (right - left)) / 2 - left, (size - (bottom - top)) / 2 - top - size * 0.04), text,
             font=font, fill=WHITE)
    bar = int(size * 0.035)  # an underline: a book's spine, and the navbar's accent
    y = int(size * 0.70)
    pen.rectangle((int(size * 0.26), y, int(size * 0.74), y + bar), fill=WHITE)
    return image


def main() -> None:
    ICONS.mkdir(parents=True, exist_ok=True)
    for size, name in ((192, "icon-192.png"), (512, "icon-512.png"), (180, "apple-touch-icon.png")):
        draw(size).save(ICONS / name, optimize=True)
        print(ICONS / name)


if __name__ == "__main__":
    main()
