"""Check the links of every tracked Markdown file (`make lint` runs this).

- A relative link or image must name a file or folder of the repository (tracked in git,
  so that it exists in a fresh clone), and a `#anchor` must name a heading of that file.
- No link may point outside the repository (`../` past its root, an absolute path, `file:`).
- `http(s)://` and `mailto:` links are not followed: they are sources outside the project.

Links inside fenced code blocks and inline code are ignored. Standard library only.
Exit status 1 and one line per broken link when something is wrong.
"""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL = re.compile(r"^(?:https?:|mailto:)", re.IGNORECASE)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`+[^`]*`+")
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML_LINK = re.compile(r"<(?:a|img)\s[^>]*?(?:href|src)=\"([^\"]+)\"", re.IGNORECASE)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXPLICIT_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)


def tracked_files() -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout  # noqa: S607
    return set(out.splitlines())


def prose_lines(text: str, *, inline_code: bool = False) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, inline code removed unless kept."""
    lines, fence = [], None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if match:
            if fence is None:
                fence = match.group(1)
            elif match.group(1) == fence:
                fence = None
            continue
        if fence is None:
            lines.append((number, line if inline_code else INLINE_CODE.sub("", line)))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.replace("`", "").strip().lower()
    kept = []
    for ch in text:
        if ch in " -_" or unicodedata.category(ch)[0] in "LNM":
            kept.append("-" if ch == " " else ch)
    return "".join(kept)


def anchors(text: str) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(text, inline_code=True):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        found.update(EXPLICIT_ANCHOR.findall(line))
    return found


def links(text: str) -> list[tuple[int, str]]:
    result = []
    for number, line in prose_lines(text):
        for pattern in (INLINE_LINK, HTML_LINK):
            result.extend((number, target) for target in pattern.findall(line))
        match = REFERENCE.match(line)
        if match:
            result.append((number, match.group(1)))
    return result


def resolve(source: str, target: str) -> str | None:
    """The repository path `target` names from file `source`; None when it leaves the repository."""
    parts: list[str] = []
    for part in (PurePosixPath(source).parent / unquote(target)).parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts) or "."


def check(files: set[str], root: Path = ROOT) -> list[str]:
    folders = {str(parent) for name in files for parent in PurePosixPath(name).parents}
    headings: dict[str, set[str]] = {}

    def has_heading(name: str, anchor: str) -> bool:
        if name not in headings:
            headings[name] = anchors((root / name).read_text(encoding="utf-8"))
        return unquote(anchor) in headings[name]

    problems = []
    for name in sorted(f for f in files if f.endswith(".md") and (root / f).exists()):
        for number, target in links((root / name).read_text(encoding="utf-8")):
            where = f"{name}:{number}: {target}"
            if not target or EXTERNAL.match(target):
                continue
            file_part, _, anchor = target.partition("#")
            linked = resolve(name, file_part) if file_part else name
            if SCHEME.match(target) or target.startswith(("/", "\\")) or linked is None:
                problems.append(f"{where}: points outside the repository")
            elif linked not in files and linked not in folders:
                problems.append(f"{where}: no such file in the repository")
            elif anchor and linked.endswith(".md") and not has_heading(linked, anchor):
                problems.append(f"{where}: no heading #{anchor} in {linked}")
    return problems


def main() -> int:
    problems = check(tracked_files())
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
