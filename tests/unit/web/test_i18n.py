"""Chinese and English interfaces: Accept-Language, the user's choice, and complete catalogues."""

from __future__ import annotations

from pathlib import Path

from tests.unit.web.conftest import REPO, login_as

PO = REPO / "controlplane" / "web" / "translations" / "zh_CN" / "LC_MESSAGES" / "messages.po"


def test_accept_language_zh_cn_gives_chinese(client) -> None:
    page = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert "登录" in page and "用户名" in page and "教育政务运维管控平台" in page
    english = client.get("/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert "User name" in english and "用户名" not in english


def test_plain_zh_matches_simplified_chinese(client) -> None:
    assert "用户名" in client.get("/login", headers={"Accept-Language": "zh"}).get_data(as_text=True)


def test_the_users_language_overrides_the_browser(client, people, store) -> None:
    from controlplane.store.models import User

    with store.session() as session:
        session.get(User, people["operator-gd"].id).language = "zh_CN"
    login_as(client, people["operator-gd"])
    page = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "总览" in page and "运维工程师" in page
    # Site titles come from the inventory in Chinese.
    assert "省级教育行政部门（示例省）" in page and "示例中学" in page
    with store.session() as session:
        session.get(User, people["operator-gd"].id).language = "en"
    page = client.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "Overview" in page and "Operations engineer" in page and "总览" not in page


def test_role_and_status_terms_in_chinese(client, people, store) -> None:
    from controlplane.runs import create_run, finish_run
    from controlplane.store.models import RunStatus, User

    with store.session() as session:
        session.get(User, people["root"].id).language = "zh_CN"
        finish_run(
            session,
            create_run(session, kind="ping", target="mn-portal-1", actor="t", site="ministry"),
            RunStatus.FAILED,
        )
    login_as(client, people["root"])
    users_page = client.get("/users").get_data(as_text=True)
    for term in ("管理员", "运维工程师", "值班人员", "安全管理员", "审计员"):
        assert term in users_page
    runs_page = client.get("/runs").get_data(as_text=True)
    assert "失败" in runs_page and "教育部" in runs_page
    assert "审计日志" in client.get("/audit").get_data(as_text=True)


def test_every_extracted_message_has_a_chinese_translation() -> None:
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    with PO.open("rb") as handle:
        catalog = read_po(handle)
    translated = {m.id: m.string for m in catalog if m.id}
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
    found = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(REPO / "controlplane" / "web"), method_map=method_map, keywords=keywords
        )
    }
    missing = sorted(m for m in found if isinstance(m, str) and not translated.get(m))
    assert not missing, f"untranslated: {missing}"


def test_catalogues_are_compiled_into_the_state_folder(app, config) -> None:
    mo_files = sorted(p.relative_to(Path(config.state_dir)) for p in Path(config.state_dir).rglob("*.mo"))
    assert Path("i18n/zh_CN/LC_MESSAGES/messages.mo") in mo_files
