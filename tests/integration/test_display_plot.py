"""Rich output from C cells, through the real kernel and jupyter_client: display_matrix (an HTML
table with a text/plain copy in one bundle, truncated for big matrices), the progress bar (one
display, then update_display_data by its display_id, throttled), and the plots of cnote.h (SVG
that parses as XML, with the expected marks per series and a text/plain description; a million
points stay under 1 MB). The SVG emitter's own details are unit-tested in
tests/unit/kernel/test_plot.c.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from harness import describe, get_reply, ok

SVG = "{http://www.w3.org/2000/svg}"


def displays(res, msg_type: str = "display_data") -> list[dict]:
    return [m["content"] for m in res.of_type(msg_type)]


def one_display(res) -> dict:
    shown = displays(res)
    assert len(shown) == 1, describe(res)
    return shown[0]


def parse_svg(content: dict) -> ET.Element:
    """The image/svg+xml of a display, parsed (fails on anything not well-formed)."""
    assert set(content["data"]) == {"image/svg+xml", "text/plain"}, content["data"].keys()
    root = ET.fromstring(content["data"]["image/svg+xml"])
    assert root.tag == SVG + "svg"
    return root


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def polyline_vertices(group: ET.Element) -> int:
    return sum(len(p.get("points").split()) for p in group.iter(SVG + "polyline"))


class TableParser(HTMLParser):
    """Caption, header row and body rows (cell texts) of the first table."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.caption = ""
        self.rows: list[list[str]] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th", "caption"):
            self._in = tag
            if tag != "caption":
                self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag in ("td", "th", "caption"):
            self._in = None

    def handle_data(self, data):
        if self._in == "caption":
            self.caption += data
        elif self._in:
            self.rows[-1][-1] += data


def table(html: str) -> TableParser:
    p = TableParser()
    p.feed(html)
    return p


# --------------------------------------------------------------------------------------------
# display_matrix
# --------------------------------------------------------------------------------------------


def test_display_matrix_small_has_html_and_text(kc):
    res = ok(kc, "#include <math.h>\n"
                 "double dm_small[6] = {1, 2.5, -3, 0.1, 1e20, NAN};\n"
                 "display_matrix(dm_small, 2, 3);")
    data = one_display(res)["data"]
    assert set(data) == {"text/html", "text/plain"}, data
    t = table(data["text/html"])
    assert t.caption == "2 x 3"
    assert t.rows[0] == ["", "0", "1", "2"]
    assert t.rows[1] == ["0", "1", "2.5", "-3"]
    assert t.rows[2] == ["1", "0.1", "1e+20", "nan"]
    assert data["text/plain"] == "2 x 3\n[[    1   2.5    -3]\n [  0.1 1e+20   nan]]"


def test_display_matrix_truncates_big_one(kc):
    res = ok(kc, "double *dm_big = malloc(100 * 100 * sizeof *dm_big);\n"
                 "for (int i = 0; i < 100 * 100; i++) dm_big[i] = i + 0.5;\n"
                 "display_matrix(dm_big, 100, 100);")
    data = one_display(res)["data"]
    t = table(data["text/html"])
    assert t.caption == "100 x 100"
    header, body = t.rows[0], t.rows[1:]
    assert header == ["", "0", "1", "2", "3", "4", "\u22ef", "95", "96", "97", "98", "99"]
    assert len(body) == 11 and all(len(r) == 12 for r in body), t.rows
    assert [r[0] for r in body] == ["0", "1", "2", "3", "4", "\u22ee", "95", "96", "97", "98",
                                    "99"]
    assert body[0][1] == "0.5" and body[0][-1] == "99.5"
    assert body[-1][1] == "9900.5" and body[-1][-1] == "9999.5"
    assert body[4][5] == "404.5" and body[6][7] == "9595.5"
    assert body[5][6] == "\u22f1" and body[5][1] == "\u22ee" and body[0][6] == "\u22ef"
    assert len(data["text/html"]) < 4000
    text = data["text/plain"]
    assert text.startswith("100 x 100\n[[") and text.endswith("]]"), text
    assert "9999.5" in text and "..." in text and len(text.splitlines()) == 12


def test_display_matrixf_uses_float_precision(kc):
    res = ok(kc, "float dm_f[2] = {0.1f, 1.0f / 3};\ndisplay_matrixf(dm_f, 1, 2);")
    t = table(one_display(res)["data"]["text/html"])
    assert t.rows[1] == ["0", "0.1", "0.33333334"], t.rows


# --------------------------------------------------------------------------------------------
# progress bar and display ids
# --------------------------------------------------------------------------------------------


def test_progress_bar_updates_in_place(kc):
    start = time.monotonic()
    res = ok(kc, "#include <unistd.h>\n"
                 'struct cnote_progress *pg = progress_start("work <1>", 40);\n'
                 "for (long i = 0; i < 40; i++) { usleep(15000); progress_update(pg, i + 1); }\n"
                 "progress_end(pg);")
    elapsed = time.monotonic() - start
    kinds = [m["msg_type"] for m in res.outputs]
    assert kinds[0] == "display_data" and kinds.count("display_data") == 1, kinds
    assert set(kinds[1:]) == {"update_display_data"}, kinds
    first = res.outputs[0]["content"]
    display_id = first["transient"]["display_id"]
    assert display_id.startswith("cnote-progress-")
    updates = displays(res, "update_display_data")
    for u in updates:
        assert u["transient"]["display_id"] == display_id
        assert set(u["data"]) == {"text/html", "text/plain"}, u
    # at most one redraw every 100 ms, plus completion and the end
    assert 3 <= len(updates) <= elapsed / 0.1 + 3, (len(updates), elapsed)
    assert "0/40" in first["data"]["text/plain"] and "work <1>" in first["data"]["text/plain"]
    assert "work &lt;1&gt;" in first["data"]["text/html"]
    final = updates[-1]["data"]
    assert "100%" in final["text/plain"] and "40/40" in final["text/plain"], final
    assert " in " in final["text/plain"] and "ETA" not in final["text/plain"]
    assert "width:100.0%" in final["text/html"]
    # completion is drawn as soon as it happens: the update before the end is complete too
    assert "40/40" in updates[-2]["data"]["text/plain"]


def test_progress_in_tight_loop_sends_few_messages(kc):
    res = ok(kc, "struct cnote_progress *pt = progress_start(NULL, 0);\n"
                 "volatile double pt_acc = 0;\n"
                 "for (long i = 0; i < 20000000; i++) { pt_acc += i; progress_update(pt, i); }\n"
                 "progress_end(pt);")
    kinds = [m["msg_type"] for m in res.outputs]
    assert kinds.count("display_data") == 1, kinds
    assert len(kinds) <= 3 + 50, kinds  # far fewer than 20 million
    final = displays(res, "update_display_data")[-1]["data"]["text/plain"]
    assert final.startswith("19999999 done in"), final


def test_plot_svg_shown_then_updated_by_id(kc):
    res = ok(kc, "double pu_y[3] = {1, 2, 3};\n"
                 "struct cnote_series pu_s = {.y = pu_y, .n = 3};\n"
                 "char *pu_svg = plot_svg(&pu_s, 1, NULL);\n"
                 'display_mime_id("pu", "image/svg+xml", pu_svg, strlen(pu_svg));\n'
                 "free(pu_svg);\n"
                 "pu_y[2] = 30;\n"
                 "pu_svg = plot_svg(&pu_s, 1, NULL);\n"
                 'update_display_mime("pu", "image/svg+xml", pu_svg, strlen(pu_svg));\n'
                 "free(pu_svg);")
    kinds = [m["msg_type"] for m in res.outputs]
    assert kinds == ["display_data", "update_display_data"], describe(res)
    first, second = (m["content"] for m in res.outputs)
    assert first["transient"]["display_id"] == second["transient"]["display_id"] == "pu"
    a = ET.fromstring(first["data"]["image/svg+xml"])
    b = ET.fromstring(second["data"]["image/svg+xml"])
    labels = lambda root: [t.text for g in by_class(root, "cn-yticks") for t in g]  # noqa: E731
    assert labels(a) != labels(b) and "30" in labels(b), (labels(a), labels(b))


# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------


def test_plot_line_marks_and_text(kc):
    res = ok(kc, "#include <math.h>\n"
                 "double pl_x[100], pl_y[100];\n"
                 "for (int i = 0; i < 100; i++) { pl_x[i] = i * 0.1; pl_y[i] = sin(pl_x[i]); }\n"
                 'plot_line(pl_x, pl_y, 100, "sine & co");')
    content = one_display(res)
    root = parse_svg(content)
    assert content["data"]["text/plain"] == "<plot: sine & co, 100 points>"
    lines = by_class(root, "cn-line")
    assert len(lines) == 1 and polyline_vertices(lines[0]) == 100
    assert [t.text for t in by_class(root, "cn-title")] == ["sine & co"]
    xticks = [t.text for g in by_class(root, "cn-xticks") for t in g]
    assert xticks[:2] == ["0", "2"] and "8" in xticks, xticks


def test_plot_scatter_and_hist_marks(kc):
    res = ok(kc, "double ps_x[40], ps_y[40], ph_v[100];\n"
                 "for (int i = 0; i < 40; i++) { ps_x[i] = i; ps_y[i] = (i * 7) % 40; }\n"
                 "for (int i = 0; i < 100; i++) ph_v[i] = i;\n"
                 'plot_scatter(ps_x, ps_y, 40, "dots");\n'
                 'plot_hist(ph_v, 100, 10, "flat");')
    shown = displays(res)
    assert len(shown) == 2, describe(res)
    scatter, hist = (parse_svg(c) for c in shown)
    assert len(list(by_class(scatter, "cn-scatter")[0].iter(SVG + "circle"))) == 40
    bars = list(by_class(hist, "cn-hist")[0].iter(SVG + "rect"))
    assert len(bars) == 10 and len({b.get("height") for b in bars}) == 1
    assert shown[1]["data"]["text/plain"] == "<plot: flat, 100 points>"


def test_plot_several_series_with_options(kc):
    res = ok(kc, "double po_a[50], po_b[50], po_t[50];\n"
                 "for (int i = 0; i < 50; i++) { po_t[i] = i; po_a[i] = i * i; "
                 "po_b[i] = 2500 - i * i; }\n"
                 "struct cnote_series po_s[] = {\n"
                 '    {.x = po_t, .y = po_a, .n = 50, .label = "rise"},\n'
                 '    {.x = po_t, .y = po_b, .n = 50, .label = "fall", .kind = CNOTE_SCATTER},\n'
                 '    {.y = po_a, .n = 50, .label = "x<y", .color = "#222222"},\n'
                 "};\n"
                 "plot(po_s, 3, &(struct cnote_plot_opts){.title = \"two\", .xlabel = \"t\",\n"
                 '     .ylabel = "v", .width = 800, .height = 300});')
    content = one_display(res)
    root = parse_svg(content)
    assert root.get("width") == "800" and root.get("height") == "300"
    assert [polyline_vertices(g) for g in by_class(root, "cn-line")] == [50, 50]
    assert len(list(by_class(root, "cn-scatter")[0].iter(SVG + "circle"))) == 50
    legend = by_class(root, "cn-legend")[0]
    assert [t.text for t in legend.iter(SVG + "text")] == ["rise", "fall", "x<y"]
    assert [t.text for t in by_class(root, "cn-xlabel")] == ["t"]
    assert [t.text for t in by_class(root, "cn-ylabel")] == ["v"]
    assert by_class(root, "cn-line")[1].get("stroke") == "#222222"
    assert content["data"]["text/plain"] == "<plot: two, 150 points>"


def test_plot_heatmap_cells_and_colour_bar(kc):
    res = ok(kc, "double hm[30 * 20];\n"
                 "for (int i = 0; i < 30 * 20; i++) hm[i] = i;\n"
                 'plot_heatmap(hm, 30, 20, "grid");')
    content = one_display(res)
    root = parse_svg(content)
    assert content["data"]["text/plain"] == "<heatmap: grid, 30 x 20>"
    cells = 0
    for path in by_class(root, "cn-cells"):
        cells += sum(int(k) for k in re.findall(r"h(\d+)v1", path.get("d")))
    assert cells == 30 * 20
    assert len(by_class(root, "cn-colorbar")) == 1
    assert len(list(by_class(root, "cn-colorbar")[0].iter(SVG + "rect"))) == 64


def test_plot_nan_and_constant_data(kc):
    res = ok(kc, "#include <math.h>\n"
                 "double pn_y[6] = {1, NAN, 1, INFINITY, 1, 1};\n"
                 'plot_line(NULL, pn_y, 6, "flat");\n'
                 "plot_scatter(NULL, pn_y, 0, NULL);\n"
                 "plot_hist(pn_y, 6, 0, NULL);")
    shown = displays(res)
    assert len(shown) == 3, describe(res)
    roots = [parse_svg(c) for c in shown]
    # gaps at the NaN and the infinity: 1 | 1 | 1 1 -> one two-point polyline
    assert polyline_vertices(by_class(roots[0], "cn-line")[0]) == 2
    assert shown[0]["data"]["text/plain"] == "<plot: flat, 4 points>"
    assert shown[1]["data"]["text/plain"] == "<plot: 0 points>"
    for c in shown:
        assert "nan" not in c["data"]["image/svg+xml"].lower()


def test_plot_million_points_stays_small(kc):
    res = ok(kc, "#include <math.h>\n"
                 "int pm_n = 1000000;\n"
                 "double *pm_x = malloc(pm_n * sizeof(double)), *pm_y = malloc(pm_n * "
                 "sizeof(double));\n"
                 "for (int i = 0; i < pm_n; i++) { pm_x[i] = i; "
                 "pm_y[i] = sin(i * 1e-4) + (i * 7919L % 1000) * 1e-4; }\n"
                 'plot_line(pm_x, pm_y, pm_n, "line");\n'
                 "for (int i = 0; i < pm_n; i++) { pm_x[i] = sin(i * 0.37) * i; "
                 "pm_y[i] = cos(i * 0.53) * i; }\n"
                 'plot_scatter(pm_x, pm_y, pm_n, "scatter");', timeout=120)
    shown = displays(res)
    assert len(shown) == 2, describe(res)
    for c in shown:
        assert len(c["data"]["image/svg+xml"].encode()) < 1024 * 1024
        assert c["data"]["text/plain"].endswith(", 1000000 points>")
    line, scatter = (parse_svg(c) for c in shown)
    assert 100 < polyline_vertices(by_class(line, "cn-line")[0]) < 4 * 640
    assert len(by_class(scatter, "cn-dots")) == 1


def test_plot_text_is_escaped(kc):
    title = 'a<b> & "c" \u00e9'
    res = ok(kc, 'double pe_y[2] = {0, 1};\nplot_line(NULL, pe_y, 2, "a<b> & \\"c\\" \u00e9");')
    root = parse_svg(one_display(res))
    assert [t.text for t in by_class(root, "cn-title")] == [title]


def test_complete_knows_plot_functions(kc):
    code = "plot_h"
    msg_id = kc.complete(code, len(code))
    reply = get_reply(kc, msg_id, time.monotonic() + 10)["content"]
    assert {"plot_heatmap", "plot_hist", "plot_heatmap_opts"} <= set(reply["matches"]), reply
