"""Write docs/algorithms.md from the provider itself, so the documentation cannot drift.

Usage: .venv/bin/python scripts/algorithms_doc.py [--check]
With --check it exits 1 when docs/algorithms.md differs from what the provider says.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".venv" / "qgis-plugins"))
DOC = ROOT / "docs" / "algorithms.md"


def _plain(text: str) -> str:
    text = re.sub(r"<[^>]+>", "", text or "")
    return html.unescape(text).replace("|", "\\|").replace("\n", " ").strip()


def _default(definition) -> str:
    value = definition.defaultValue()
    if value is None or value == "":
        return ""
    return f"`{value}`"


def render() -> str:
    from insarhub_qgis.processing_provider.provider import InsarhubProvider
    from qgis.core import QgsApplication

    provider = InsarhubProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    lines = [
        "# InSARHub algorithms",
        "",
        "Generated from the Processing provider by `scripts/algorithms_doc.py` (a test checks it is current).",
        "Run any of them with `./scripts/qgis_process run <id> -- NAME=value ...`, from the Processing toolbox,",
        "or in the graphical modeler.",
        "",
    ]
    for algorithm in sorted(provider.algorithms(), key=lambda a: (a.group(), a.id())):
        lines += [f"## `{algorithm.id()}`: {algorithm.displayName()}", ""]
        model_help = algorithm.helpContent() if hasattr(algorithm, "helpContent") else {}
        help_file = ROOT / "processing_provider" / "help" / f"{algorithm.name()}.html"
        if help_file.exists():
            paragraphs = re.split(r"</p>\s*<p>", help_file.read_text())
            lines += [_plain(p) + "\n" for p in paragraphs]
        elif model_help.get("ALG_DESC"):
            lines += [_plain(model_help["ALG_DESC"]), ""]
        elif algorithm.shortHelpString():
            lines += [_plain(algorithm.shortHelpString().split("<h3>")[0]), ""]
        lines += ["| parameter | type | default | description |", "|---|---|---|---|"]
        for definition in algorithm.parameterDefinitions():
            optional = " (optional)" if definition.flags() & definition.FlagOptional else ""
            advanced = " (advanced)" if definition.flags() & definition.FlagAdvanced else ""
            text = _plain(definition.help() or model_help.get(definition.name()) or definition.description())
            lines.append(f"| `{definition.name()}` | {definition.type()}{optional}{advanced} | {_default(definition)} | {text} |")
        outputs = [o for o in algorithm.outputDefinitions() if not any(p.name() == o.name() for p in algorithm.destinationParameterDefinitions())]
        if outputs:
            lines += ["", "| output | type | description |", "|---|---|---|"]
            lines += [f"| `{o.name()}` | {o.type()} | {_plain(o.description())} |" for o in outputs]
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    text = render()
    app.exitQgis()
    if "--check" in sys.argv:
        current = DOC.read_text() if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is out of date: run .venv/bin/python scripts/algorithms_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)
    print(f"Written: {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
