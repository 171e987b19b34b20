"""A tiny HTML kit for the emulator's pages: escaping by default, one layout, ANSI colours to HTML.

Every value put into a template is escaped unless it is already :class:`Html`, so user data
(project names, refs, variables, logs) cannot inject markup by being forgotten.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone
from html import escape


class Html(str):
    """Markup that is safe to insert as it is: built by :func:`render`, :func:`join` or from a constant."""

    __slots__ = ()


def render(template: str, /, **values: object) -> Html:
    """Fill the ``{name}`` fields of ``template``, escaping every value that is not :class:`Html`.

    :param template: trusted markup with ``str.format`` fields.
    :param values: the field values.
    """
    safe = {name: value if isinstance(value, Html) else escape(str(value)) for name, value in values.items()}
    return Html(template.format_map(safe))


def join(parts: Iterable[Html]) -> Html:
    """Concatenate markup fragments.

    :param parts: the fragments.
    """
    return Html("".join(parts))


def when(moment: float | None) -> str:
    """``2024-05-01 12:00:00 UTC``, or an em dash for "not yet".

    :param moment: epoch seconds.
    """
    if moment is None:
        return "\u2014"
    return datetime.fromtimestamp(moment, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    """``0 s``, ``42 s``, ``3 min 5 s``, ``2 h 7 min``, or an em dash: whole seconds, so a column reads evenly.

    :param seconds: a duration.
    """
    if seconds is None:
        return "\u2014"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


# CSI sequences (SGR colours captured), GitLab's collapsible-section markers, and carriage returns.
_CONTROL = re.compile(r"\x1b\[([0-9;]*)m|\x1b\[[0-9;?]*[A-Za-z]|section_(?:start|end):\d+:[^\r\n]*\r|\r")
_COLOURS = {
    30: "#6e7781",
    31: "#ff7b72",
    32: "#7ee787",
    33: "#e3b341",
    34: "#79c0ff",
    35: "#d2a8ff",
    36: "#56d4dd",
    37: "#e6edf3",
}


def ansi_to_html(text: str) -> Html:
    """A runner log as HTML: escaped, SGR colours and bold as ``<span>``, other control codes removed.

    :param text: the raw trace.
    """
    out: list[str] = []
    colour: int | None = None
    bold = False
    position = 0

    def emit(chunk: str) -> None:
        if not chunk:
            return
        classes = " ".join(name for name in (f"c{colour}" if colour else "", "b" if bold else "") if name)
        out.append(f'<span class="{classes}">{escape(chunk)}</span>' if classes else escape(chunk))

    for match in _CONTROL.finditer(text):
        emit(text[position : match.start()])
        position = match.end()
        if match.group(1) is None:
            continue
        codes = [int(code) if code else 0 for code in match.group(1).split(";")]
        index = 0
        while index < len(codes):
            code = codes[index]
            if code == 0:
                colour, bold = None, False
            elif code == 1:
                bold = True
            elif code == 22:
                bold = False
            elif code == 39:
                colour = None
            elif 30 <= code <= 37:
                colour = code
            elif 90 <= code <= 97:
                colour = code - 60  # bright variants share the palette
            elif code in (38, 48):
                index += 2 if codes[index + 1 : index + 2] == [5] else 4  # skip 256-colour / RGB arguments
            index += 1
    emit(text[position:])
    return Html("".join(out))


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#1f1147;color:#fff;padding:10px 24px;display:flex;gap:16px;align-items:baseline}
header a{color:#fff;text-decoration:none;font-weight:600}
header .crumbs a,header .crumbs span{font-weight:400;color:#d0c8f0}
main{max-width:1100px;margin:0 auto;padding:16px 24px 40px}
h1{font-size:22px;margin:8px 0 4px}
h2{font-size:16px;margin:24px 0 8px}
a{color:#0b5cad}
.muted{color:#656d76}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de;border-radius:6px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{background:#f6f8fa;font-weight:600;font-size:13px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:12px 0}
dt{color:#656d76}dd{margin:0}
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace}
.status{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;
border:1px solid currentColor;white-space:nowrap}
.s-success{color:#1a7f37}.s-failed{color:#cf222e}.s-running{color:#0969da}
.s-pending,.s-created,.s-manual,.s-canceling{color:#9a6700}.s-canceled,.s-skipped{color:#656d76}
.stages{display:flex;gap:12px;flex-wrap:wrap}
.stage{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;min-width:200px;flex:1}
.stage h3{font-size:13px;margin:0 0 6px;color:#656d76;font-weight:600}
.job{display:flex;align-items:baseline;gap:8px;padding:3px 0}
.job .took{margin-left:auto;color:#656d76;white-space:nowrap}
.retried{opacity:.55}
.note{background:#ddf4ff;border:1px solid #54aeff66;border-radius:6px;padding:6px 10px;margin:10px 0}
pre.log{background:#0d1117;color:#e6edf3;padding:12px 14px;border-radius:6px;overflow-x:auto;
font:13px/1.5 ui-monospace,SFMono-Regular,Menlo,monospace;white-space:pre-wrap;word-break:break-word}
pre.log .b{font-weight:700}
"""
_STYLE += "".join(f"pre.log .c{code}{{color:{colour}}}" for code, colour in _COLOURS.items())

_LAYOUT = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{refresh}<title>{title} \u00b7 DataOps.live emulator</title>
<style>{style}</style>
</head>
<body>
<header><a href="/">DataOps.live emulator</a><span class="crumbs">{crumbs}</span></header>
<main>
{body}
</main>
</body>
</html>
"""


def layout(
    title: str, body: Html, *, crumbs: Iterable[tuple[str, str]] = (), refresh_seconds: int | None = None
) -> Html:
    """A whole page.

    :param title: the page title (escaped).
    :param body: the page's main content.
    :param crumbs: ``(text, href)`` links shown after the home link.
    :param refresh_seconds: reload the page this often (for something still running); ``None`` for never.
    """
    links = join((render('/ <a href="{href}">{text}</a> ', href=href, text=text) for text, href in crumbs))
    refresh = (
        render('<meta http-equiv="refresh" content="{seconds}">\n', seconds=refresh_seconds)
        if refresh_seconds
        else Html("")
    )
    return render(_LAYOUT, refresh=refresh, title=title, style=Html(_STYLE), crumbs=links, body=body)


def status_badge(status: str) -> Html:
    """A coloured status label.

    :param status: a pipeline or job status.
    """
    return render('<span class="status s-{status}">{status}</span>', status=status)
