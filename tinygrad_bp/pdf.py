"""A one-page vector PDF of a Graphviz layout, for renderers that have no PDF output (graphviz-pure).

Input is the layout as Graphviz's `-Tjson` writes it: the drawing operations of
the xdot format (polygons, Bézier curves, ellipses, text with its measured width)
for the graph, its clusters, nodes and edges. Output draws the same shapes with
PDF's standard fonts (Helvetica, Times, Courier; Greek letters and a few math
signs from Symbol), so nothing is embedded and the file stays small. Text is
placed by the width the layout measured, so a label sits where the renderer put it.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

__all__ = ["pdf_from_layout"]

# Symbol font codes (Adobe's standard Symbol encoding) for characters WinAnsi lacks
_SYMBOL = dict(zip("ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩαβγδεζηθικλμνξοπρςστυφχψω",
                   "ABGDEZHQIKLMNXOPRSTUFCYWabgdezhqiklmnxoprVstufcyw"))
_SYMBOL.update({"−": "\x2d", "∂": "\xb6", "∑": "\xe5", "→": "\xae", "←": "\xac", "↔": "\xab", "≤": "\xa3",
                "≥": "\xb3", "≠": "\xb9", "≈": "\xbb", "∞": "\xa5", "√": "\xd6", "∇": "\xd1", "∫": "\xf2",
                "∈": "\xce", "∏": "\xd5", "′": "\xa2", "″": "\xb2", "⋅": "\xd7", "∙": "\xb7"})

_DASHES = {"dashed": "[5 2] 0 d", "dotted": "[1 5] 0 d", "solid": "[] 0 d"}
_BASE = {"sans": "Helvetica", "serif": "Times", "mono": "Courier"}
_STYLED = {("Helvetica", False, False): "Helvetica", ("Helvetica", True, False): "Helvetica-Bold",
           ("Helvetica", False, True): "Helvetica-Oblique", ("Helvetica", True, True): "Helvetica-BoldOblique",
           ("Times", False, False): "Times-Roman", ("Times", True, False): "Times-Bold",
           ("Times", False, True): "Times-Italic", ("Times", True, True): "Times-BoldItalic",
           ("Courier", False, False): "Courier", ("Courier", True, False): "Courier-Bold",
           ("Courier", False, True): "Courier-Oblique", ("Courier", True, True): "Courier-BoldOblique"}


def _family(face: str) -> str:
    f = face.lower()
    if any(k in f for k in ("courier", "mono", "consol")):
        return _BASE["mono"]
    if any(k in f for k in ("times", "georgia", "garamond", "palatino")) or ("serif" in f and "sans" not in f):
        return _BASE["serif"]
    return _BASE["sans"]


def _color(text: str) -> tuple[float, float, float] | None:
    """'#rrggbb' or '#rrggbbaa' as RGB in 0..1; None for a transparent or unreadable color."""
    m = re.fullmatch(r"#([0-9a-fA-F]{6})([0-9a-fA-F]{2})?", text.strip())
    if not m:
        return (0.0, 0.0, 0.0) if text.strip().lower() == "black" else None
    if m.group(2) is not None and int(m.group(2), 16) < 128:
        return None
    h = m.group(1)
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255)


def _n(x: float) -> str:
    s = f"{x:.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _pdf_string(raw: bytes) -> str:
    return "(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)").decode("latin-1") + ")"


def _runs(text: str) -> list[tuple[bool, bytes]]:
    """`text` as runs of (is_symbol, bytes): WinAnsi bytes for the text font, Symbol bytes for the rest."""
    runs: list[tuple[bool, bytes]] = []
    for ch in text:
        try:
            sym, b = False, ch.encode("cp1252")
        except UnicodeEncodeError:
            code = _SYMBOL.get(ch)
            sym, b = (True, code.encode("latin-1")) if code else (False, b"?")
        if runs and runs[-1][0] == sym:
            runs[-1] = (sym, runs[-1][1] + b)
        else:
            runs.append((sym, b))
    return runs


class _Painter:
    """Turns xdot operations into a PDF content stream; remembers which fonts it used."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.fonts: dict[str, str] = {}  # PDF base font -> resource name

    def font(self, base: str) -> str:
        return self.fonts.setdefault(base, f"F{len(self.fonts) + 1}")

    def paint(self, ops: list[dict[str, Any]], bezier_filled: bool) -> None:
        pen: tuple[float, float, float] | None = (0.0, 0.0, 0.0)
        fill: tuple[float, float, float] | None = (0.0, 0.0, 0.0)
        size, face, flags = 14.0, "Times", 0
        width, dash = 1.0, "[] 0 d"
        for op in ops:
            kind = op["op"]
            if kind == "c":
                pen = _color(op.get("color", "")) if op.get("grad", "none") == "none" else (0.0, 0.0, 0.0)
            elif kind == "C":
                fill = _color(op.get("color", "")) if op.get("grad", "none") == "none" else None
            elif kind == "F":
                size, face = float(op["size"]), str(op["face"])
            elif kind == "t":
                flags = int(op["fontchar"])
            elif kind == "S":
                style = str(op["style"])
                m = re.fullmatch(r"(?:setlinewidth|penwidth)\(([\d.]+)\)", style)
                if m:
                    width = float(m.group(1))
                elif style == "bold":
                    width = 2.0
                elif style in _DASHES:
                    dash = _DASHES[style]
                elif style == "invis":
                    pen = fill = None
            elif kind in "PpLBbEe":
                # the letter of a Bézier curve cannot be trusted (b is filled, B is not, by the xdot format):
                # both `dot` and graphviz-pure write b for every edge and swap b and B in rounded boxes
                filled = bezier_filled if kind in "Bb" else kind in "PE"
                self._shape(kind, op, filled, pen, fill, width, dash)
            elif kind == "T":
                self._text(op, pen, size, face, flags)

    def _shape(self, kind: str, op: dict[str, Any], filled: bool, pen: Any, fill: Any, width: float,
               dash: str) -> None:
        do_fill, do_stroke = filled and fill is not None, pen is not None
        if not (do_fill or do_stroke):
            return
        o = self.out
        o.append("q")
        if do_stroke:
            o.append(f"{_n(pen[0])} {_n(pen[1])} {_n(pen[2])} RG {_n(width)} w {dash}")
        if do_fill:
            o.append(f"{_n(fill[0])} {_n(fill[1])} {_n(fill[2])} rg")
        if kind in "Ee":
            (cx, cy), (rx, ry) = op["rect"][:2], op["rect"][2:4]
            k = 0.5523  # control-point distance of a Bézier quarter circle
            o.append(f"{_n(cx + rx)} {_n(cy)} m")
            for (ax, ay), (bx, by), (ex, ey) in [((rx, k * ry), (k * rx, ry), (0, ry)),
                                                  ((-k * rx, ry), (-rx, k * ry), (-rx, 0)),
                                                  ((-rx, -k * ry), (-k * rx, -ry), (0, -ry)),
                                                  ((k * rx, -ry), (rx, -k * ry), (rx, 0))]:
                o.append(f"{_n(cx + ax)} {_n(cy + ay)} {_n(cx + bx)} {_n(cy + by)} {_n(cx + ex)} {_n(cy + ey)} c")
            closed = True
        else:
            pts = [(float(x), float(y)) for x, y in op["points"]]
            if not pts:
                o.pop()
                return
            o.append(f"{_n(pts[0][0])} {_n(pts[0][1])} m")
            if kind in "Bb":
                for i in range(1, len(pts) - 2, 3):
                    (ax, ay), (bx, by), (ex, ey) = pts[i:i + 3]
                    o.append(f"{_n(ax)} {_n(ay)} {_n(bx)} {_n(by)} {_n(ex)} {_n(ey)} c")
            else:
                o.extend(f"{_n(x)} {_n(y)} l" for x, y in pts[1:])
            closed = kind in "Pp" or filled
        paint = "B" if do_fill and do_stroke else ("f" if do_fill else "S")
        o.append(("h " if closed else "") + paint + " Q")

    def _text(self, op: dict[str, Any], pen: Any, size: float, face: str, flags: int) -> None:
        if pen is None or not op.get("text"):
            return
        x, y = float(op["pt"][0]), float(op["pt"][1])
        w = float(op.get("width", 0.0))
        x -= {"l": 0.0, "c": w / 2, "r": w}.get(op.get("align", "l"), 0.0)
        bold = bool(flags & 1) or "bold" in face.lower()
        italic = bool(flags & 2) or any(k in face.lower() for k in ("italic", "oblique"))
        text_font = self.font(_STYLED[(_family(face), bold, italic)])
        parts = []
        for sym, raw in _runs(str(op["text"])):
            parts.append(f"/{self.font('Symbol') if sym else text_font} {_n(size)} Tf {_pdf_string(raw)} Tj")
        self.out.append(f"q {_n(pen[0])} {_n(pen[1])} {_n(pen[2])} rg BT {_n(x)} {_n(y)} Td " + " ".join(parts)
                        + " ET Q")
        if flags & 4:  # underline
            self.out.append(f"q {_n(pen[0])} {_n(pen[1])} {_n(pen[2])} RG 0.5 w {_n(x)} {_n(y - 1.5)} m "
                            f"{_n(x + w)} {_n(y - 1.5)} l S Q")


_DRAW_KEYS = ("_draw_", "_ldraw_", "_hdraw_", "_tdraw_", "_hldraw_", "_tldraw_")


def pdf_from_layout(layout: dict[str, Any], pad: float = 4.0) -> bytes:
    """The PDF file (bytes) of a layout parsed from Graphviz's `-Tjson` output.

    The page is the graph's bounding box plus `pad` points on each side, as
    Graphviz's own PDF output. Painted in Graphviz's order: the graph, clusters
    (outer before inner), edges, nodes, then the edges' labels on top.
    """
    try:
        x0, y0, x1, y1 = (float(v) for v in str(layout["bb"]).split(","))
    except (KeyError, ValueError):
        raise ValueError("pdf_from_layout: the layout has no bounding box 'bb' of four numbers") from None
    p = _Painter()
    p.out.append(f"1 0 0 1 {_n(pad - x0)} {_n(pad - y0)} cm 1 J 1 j")

    def paint(obj: dict[str, Any], keys: tuple[str, ...], edge: bool = False) -> None:
        filled = not edge and "filled" in str(obj.get("style", ""))  # only a filled node or cluster's outline
        for key in keys:
            ops = obj.get(key)
            if isinstance(ops, list):
                p.paint(ops, filled and key == "_draw_")

    objects = layout.get("objects", [])
    edges = layout.get("edges", [])
    paint(layout, ("_draw_", "_ldraw_"))
    for obj in objects:
        if "nodes" in obj or "edges" in obj or "_subgraph_cnt" in obj or "bb" in obj:  # a cluster
            paint(obj, ("_draw_", "_ldraw_"))
    for e in edges:
        paint(e, ("_draw_", "_hdraw_", "_tdraw_"), edge=True)
    for obj in objects:
        if not ("nodes" in obj or "edges" in obj or "_subgraph_cnt" in obj or "bb" in obj):
            paint(obj, ("_draw_", "_ldraw_"))
    for e in edges:
        paint(e, ("_ldraw_", "_hldraw_", "_tldraw_"), edge=True)
    return _pdf_file("\n".join(p.out).encode("latin-1"), p.fonts, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad)


def _pdf_file(content: bytes, fonts: dict[str, str], width: float, height: float) -> bytes:
    """A PDF 1.4 file of one page of `width` × `height` points painted by `content`."""
    objs: list[bytes] = []
    font_ids = {}
    for base, name in fonts.items():
        enc = "" if base == "Symbol" else " /Encoding /WinAnsiEncoding"
        objs.append(f"<< /Type /Font /Subtype /Type1 /BaseFont /{base}{enc} >>".encode())
        font_ids[name] = len(objs) + 4  # objects 1..4: catalog, pages, page, content
    stream = zlib.compress(content, 9)
    resources = " ".join(f"/{name} {i} 0 R" for name, i in font_ids.items())
    head = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_n(width)} {_n(height)}] "
         f"/Resources << /Font << {resources} >> >> /Contents 4 0 R >>").encode(),
        f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode() + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(head + objs, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
