"""Write the training data of the bundled ``base`` model: a folder, one file per category.

    python scripts/base_data.py OUT_DIR [--data-dir ../shared/data]

Two kinds of category, both written at build time and never committed:

- **Words of a language**, fetched from the ``wordfreq`` package (Robyn Speer et al.; code
  Apache-2.0, word lists CC BY-SA 4.0, built from Wikipedia, OpenSubtitles, news, books,
  web text and other sources it credits): the ``WORDS_PER_LANGUAGE`` most frequent words of
  each language in ``LANGUAGES`` that are 2 to 24 letters, every letter of the language's
  script (Latin, Greek or Cyrillic). Each is a category named ``<Language> words``.
- **The shared data sets** read from ``--data-dir`` (see its SOURCES.md): every file of
  ``names_by_language`` (its category, the file's stem) but those in ``HELD_OUT_SETS``,
  makemore's first names and NLTK's people names, one category each.

``HELD_OUT_LANGUAGES`` and ``HELD_OUT_SETS`` are left out of the base entirely: the
fine-tuning benchmark (``benchmarks/base_finetune.py``) makes its small lists from them, so
it measures lists the base never saw. Every line of a kept file that is also an item of a
held-out set is dropped too.
"""

from __future__ import annotations

import argparse
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORDS_PER_LANGUAGE = 4000
MIN_LEN, MAX_LEN = 2, 24
# wordfreq code: (category name, script); every language wordfreq has in these scripts, less the held-out ones
LANGUAGES: dict[str, tuple[str, str]] = {
    "ca": ("Catalan", "LATIN"), "cs": ("Czech", "LATIN"), "da": ("Danish", "LATIN"), "de": ("German", "LATIN"),
    "en": ("English", "LATIN"), "es": ("Spanish", "LATIN"), "fi": ("Finnish", "LATIN"),
    "fil": ("Filipino", "LATIN"), "fr": ("French", "LATIN"), "id": ("Indonesian", "LATIN"),
    "it": ("Italian", "LATIN"), "lt": ("Lithuanian", "LATIN"), "ms": ("Malay", "LATIN"),
    "nb": ("Norwegian", "LATIN"), "nl": ("Dutch", "LATIN"), "pl": ("Polish", "LATIN"),
    "pt": ("Portuguese", "LATIN"), "ro": ("Romanian", "LATIN"), "sh": ("Serbo-Croatian", "LATIN"),
    "sl": ("Slovenian", "LATIN"), "sv": ("Swedish", "LATIN"), "tr": ("Turkish", "LATIN"),
    "vi": ("Vietnamese", "LATIN"), "el": ("Greek", "GREEK"), "ru": ("Russian", "CYRILLIC"),
    "uk": ("Ukrainian", "CYRILLIC"),
}
# left out of the base, for the fine-tuning benchmark: development lists, then final-check lists
HELD_OUT_LANGUAGES: dict[str, tuple[str, str]] = {
    "sk": ("Slovak", "LATIN"), "lv": ("Latvian", "LATIN"), "bg": ("Bulgarian", "CYRILLIC"),
    "hu": ("Hungarian", "LATIN"), "is": ("Icelandic", "LATIN"), "mk": ("Macedonian", "CYRILLIC"),
}
HELD_OUT_SETS = ("names_by_language/Irish.txt", "dinos.txt", "dinosaurs.csv", "dinosaurs_latest.csv")
SETS = {"makemore names": "makemore_names.txt", "people names": "people_names.txt"}


def in_script(word: str, script: str) -> bool:
    """Whether every character of ``word`` is a letter of ``script`` (by its Unicode name)."""
    return all(ch.isalpha() and unicodedata.name(ch, "").startswith(script) for ch in word)


def words(code: str, script: str, n: int = WORDS_PER_LANGUAGE) -> list[str]:
    """The ``n`` most frequent words of wordfreq language ``code`` written in ``script``."""
    import wordfreq  # a build-time need only

    out = []
    for w in wordfreq.iter_wordlist(code, wordlist="best"):
        w = unicodedata.normalize("NFC", w)
        if MIN_LEN <= len(w) <= MAX_LEN and in_script(w, script):
            out.append(w)
            if len(out) == n:
                break
    if len(out) < n:
        raise SystemExit(f"wordfreq has only {len(out)} {code} words in the {script} script (wanted {n})")
    return out


def lines_of(path: Path) -> list[str]:
    return [s for s in (ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()) if s]


def shared_sets(data_dir: Path) -> dict[str, list[str]]:
    """The kept shared data sets by category, without any item of a held-out set."""
    held = {s for f in HELD_OUT_SETS for s in lines_of(data_dir / f)}
    held |= {s.lower() for s in held}
    out = {}
    for f in sorted((data_dir / "names_by_language").glob("*.txt")):
        if f"names_by_language/{f.name}" not in HELD_OUT_SETS:
            out[f.stem] = lines_of(f)
    out.update({name: lines_of(data_dir / f) for name, f in SETS.items()})
    return {k: [s for s in v if s not in held] for k, v in out.items()}


def write(out: Path, data_dir: Path) -> dict[str, int]:
    """Write one file per category into ``out`` (a new folder); return the items per category."""
    out.mkdir(parents=True)
    cats = {f"{name} words": words(code, script) for code, (name, script) in LANGUAGES.items()}
    cats.update(shared_sets(data_dir))
    for name, items in cats.items():
        (out / f"{name}.txt").write_text("".join(s + "\n" for s in items), encoding="utf-8")
    return {k: len(v) for k, v in cats.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="a new folder to write")
    p.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    args = p.parse_args()
    counts = write(args.out, args.data_dir)
    print(f"{sum(counts.values())} items in {len(counts)} categories written to {args.out}")


if __name__ == "__main__":
    main()
