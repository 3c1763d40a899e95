"""report.html: one self-contained page (inline CSS, images as data URIs)."""

import base64
import html
import json
import math

from .._status import OK, describe_status

__all__ = ["report_html"]

# rows of the page's table; the CSV holds every spectrum
MAX_ROWS = 200

_CSS = """
body { font-family: sans-serif; max-width: 1250px; margin: 1em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; }
.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #eee; }
td.name { text-align: left; font-weight: bold; }
td.flag { color: #b00; text-align: left; }
td.ok { color: #070; text-align: left; }
td.nan { color: #999; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; }
pre { background: #f6f6f6; padding: 0.6em; font-size: 0.8em; overflow-x: auto; }
"""


def _number(value, digits):
    """``value`` with ``digits`` decimals, or a grey dash where it is NaN."""
    if value is None or not math.isfinite(float(value)):
        return '<td class="nan">&mdash;</td>'
    return f"<td>{float(value):.{digits}f}</td>"


def _interval(value, low, high, digits):
    if not math.isfinite(float(value)):
        return '<td class="nan">&mdash;</td>'
    return f"<td>{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]</td>"


def _status(value):
    cls = "ok" if value == OK else "flag"
    return f'<td class="{cls}">{html.escape(str(value))}</td>'


def numbers_table(rows, lo, hi, has_gap):
    """The table of numbers per spectrum (HTML)."""
    head = [
        "spectrum",
        "status",
        "dE_I (eV)",
        "dE_II (eV)",
        "t/&lambda; [68%]",
        "t/&lambda; status",
        "region-I &chi;<sup>2</sup>",
    ]
    if has_gap:
        head += [
            "E<sub>bg</sub> (eV) [68%]",
            "b [68%]",
            "p<sub>indirect</sub>",
            "E<sub>bg</sub> status",
        ]
    out = [
        '<table id="numbers">',
        "<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>",
    ]
    for r in rows:
        cells = [
            f'<td class="name">{html.escape(r["spectrum"])}</td>',
            _status(r["status"]),
            _number(r["de1_eV"], 3),
            _number(r["de2_eV"], 3),
            _interval(
                r["t_over_lambda"], r[f"t_over_lambda_{lo}"], r[f"t_over_lambda_{hi}"], 4
            ),
            _status(r["t_over_lambda_status"]),
            _number(r.get("region_i_chi2", float("nan")), 3),
        ]
        if has_gap:
            cells += [
                _interval(r["e_bg_eV"], r["e_bg_p16_eV"], r["e_bg_p84_eV"], 3),
                _interval(r["b"], r["b_p16"], r["b_p84"], 2),
                _number(r["p_indirect"], 2),
                _status(r["e_bg_status"]),
            ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    if len(rows) > MAX_ROWS:
        out.append(
            f"<p>The first {MAX_ROWS} of {len(rows)} spectra; every one is in "
            "<code>per_spectrum.csv</code>.</p>"
        )
    return "\n".join(out)


def _statuses(rows, keys):
    seen = sorted({r[k] for r in rows for k in keys if k in r} - {OK})
    if not seen:
        return "<p>Every spectrum passed every check (status ok).</p>"
    items = "".join(
        f"<dt><b>{html.escape(s)}</b></dt><dd>{html.escape(describe_status(s))}</dd>"
        for s in seen
    )
    return f"<p>Statuses in this report other than ok:</p><dl>{items}</dl>"


def report_html(*, title, record, rows, lo, hi, has_gap, figures, files, texts):
    """The whole page as a string.

    ``figures`` maps a name to (PNG bytes, caption); ``files`` a file name to
    its description; ``texts`` a heading to preformatted text (summaries).
    """
    versions = record["versions"]
    n = len(rows)
    n_ok = sum(r["status"] == OK for r in rows)
    summary = [f"{n_ok} of {n} spectra subtracted with status ok"]
    if has_gap:
        n_gap = sum(r["e_bg_status"] == OK for r in rows)
        summary.append(f"band gap fitted (status ok) on {n_gap} of {n}")
    sub = record["subtractor"]
    summary.append(
        f"{sub['n_replicas_kept']} replicas kept, {sub['n_replicas_rejected']} dropped"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">Made {html.escape(record["created"])} by sklearn-zlp '
        f"{html.escape(str(versions['sklearn_zlp']))}: {html.escape('; '.join(summary))}.</p>",
        "<h2>Numbers per spectrum</h2>",
        "<p>Medians over the replicas with their 68% bands. A value that cannot be "
        "trusted is a dash (NaN in the files) and its status says why; flagged "
        "statuses are red. Every number is in <code>per_spectrum.csv</code> at full "
        "precision.</p>",
        numbers_table(rows, lo, hi, has_gap),
        _statuses(rows, ("status", "t_over_lambda_status", "e_bg_status")),
        "<h2>Figures</h2>",
    ]
    for name, (png, caption) in figures.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<figure id="fig-{name}"><img alt="{html.escape(name)}" '
            f'src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)} ({html.escape(name)}.png)</figcaption></figure>"
        )
    for heading, text in texts.items():
        parts += [f"<h2>{html.escape(heading)}</h2>", f"<pre>{html.escape(text)}</pre>"]
    parts.append("<h2>Files</h2><ul>")
    for name, text in files.items():
        parts.append(
            f'<li><a href="{html.escape(name)}">{html.escape(name)}</a>: {html.escape(text)}</li>'
        )
    parts.append("</ul>")
    parts += [
        "<h2>Settings and versions</h2>",
        f'<pre id="settings">{html.escape(json.dumps(record, indent=1))}</pre>',
        "</body></html>",
    ]
    return "\n".join(parts)
