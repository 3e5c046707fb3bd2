"""The health picture's geometry: a national tree of 111 sites and a provincial subtree lay out without overlaps."""

from __future__ import annotations

import re

from controlplane.web.health import Measure, SiteHealth
from controlplane.web.health_picture import MAX_COLUMNS, NODE_HEIGHT, Picture, clip, layout


def national(provinces: int = 10, schools: int = 10) -> list[SiteHealth]:
    """The ministry, its provinces and their schools, parents before children (as site_health lists them)."""
    measures = {name: Measure() for name in ("hosts", "probes", "backups", "compliance", "alerts")}
    sites = [SiteHealth("ministry", "ministry", None, dict(measures))]
    for p in range(provinces):
        sites.append(SiteHealth(f"province-{p:02d}", "province", "ministry", dict(measures)))
        sites += [SiteHealth(f"school-{p:02d}-{s:02d}", "school", f"province-{p:02d}", dict(measures))
                  for s in range(schools)]  # fmt: skip
    return sites


def assert_no_overlap_and_inside(picture: Picture) -> None:
    boxes = [(n.x, n.y, n.x + n.width, n.y + NODE_HEIGHT, n.site.name) for n in picture.nodes]
    for x1, y1, x2, y2, name in boxes:
        assert 0 <= x1 < x2 <= picture.width and 0 <= y1 < y2 <= picture.height, name
    for index, (ax1, ay1, ax2, ay2, a) in enumerate(boxes):
        for bx1, by1, bx2, by2, b in boxes[index + 1 :]:
            assert ax2 <= bx1 or bx2 <= ax1 or ay2 <= by1 or by2 <= ay1, f"{a} overlaps {b}"
    for x1, y1, x2, y2 in picture.lines:
        assert min(x1, x2) >= 0 and max(x1, x2) <= picture.width and min(y1, y2) >= 0 and max(y1, y2) <= picture.height


def test_a_national_tree_of_111_sites_wraps_provinces_into_bands_with_schools_below_each() -> None:
    picture = layout(national())
    assert len(picture.nodes) == 111
    assert_no_overlap_and_inside(picture)
    where = {node.site.name: node for node in picture.nodes}
    provinces = sorted({where[f"province-{p:02d}"].x for p in range(10)})
    assert len(provinces) == MAX_COLUMNS  # ten provinces in two bands of at most six columns
    assert all(where["ministry"].y < where[f"province-{p:02d}"].y for p in range(10))
    for p in range(10):
        province = where[f"province-{p:02d}"]
        for s in range(10):
            school = where[f"school-{p:02d}-{s:02d}"]
            assert school.x > province.x and school.y > province.y  # indented below its province
    assert picture.width <= 1100  # fits a laptop screen at full size


def test_a_provincial_user_sees_the_province_on_top_and_its_schools_in_columns() -> None:
    sites = [site for site in national(1, 3) if site.name != "ministry"]
    sites[0].parent = None  # outside the scope, the province is the root
    picture = layout(sites)
    assert_no_overlap_and_inside(picture)
    top = next(node for node in picture.nodes if node.site.name == "province-00")
    assert all(node.y > top.y for node in picture.nodes if node is not top)


def test_several_roots_each_head_a_column_and_no_sites_draw_nothing() -> None:
    measures = {"hosts": Measure()}
    roots = [SiteHealth(name, "province", None, dict(measures)) for name in ("province-a", "province-b")]
    picture = layout(roots)
    assert_no_overlap_and_inside(picture)
    assert {node.y for node in picture.nodes} == {picture.nodes[0].y} and not picture.lines
    assert layout([]).nodes == []


def test_titles_are_clipped_by_display_width_with_chinese_counting_double() -> None:
    assert clip("school-gd-1") == "school-gd-1"
    assert clip("省级教育行政部门（示例省）", 12) == "省级教育行…"
    assert clip("a" * 30, 10) == "a" * 9 + "…"


def test_the_svg_escapes_every_name_title_and_text_it_draws() -> None:
    from controlplane.web.health_svg import Words, svg

    hostile = '"><script>alert(1)</script><x a="'
    measures = {"hosts": Measure("bad", hostile, 0, 1)}
    site = SiteHealth(hostile, "school", None, measures)
    words = Words(labels={"hosts": hostile}, states=dict.fromkeys(("ok", "warn", "bad", "unknown"), hostile),
                  unknown={"hosts": hostile}, counted=hostile + "%(good)d", scored="", alerted="", summary=hostile,
                  pages={"hosts": "/hosts"})  # fmt: skip
    markup = str(svg(layout([site]), words, lambda name: hostile))
    assert {tag for _end, tag in re.findall(r"<(/?)([a-zA-Z]+)", markup)} <= {
        "svg", "desc", "g", "a", "title", "rect", "text", "line"}  # fmt: skip
    assert "<script" not in markup and "<x " not in markup and markup.count("&lt;script&gt;") >= 5
    assert 'href="/hosts?site=%22%3E%3Cscript%3E' in markup  # the site's name is a URL parameter there
