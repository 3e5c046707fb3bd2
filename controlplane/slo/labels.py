"""The words of the availability report, the console's availability page and the status page, in zh and en.

One table per language (the console's other pages use the flask-babel
catalogue; these pages and the report files also render outside a request,
for the CLI and the monthly job, so they read this table). ``text(lang,
key)`` falls back to English, then to the key.
"""

from __future__ import annotations

from typing import Any

LANGS = ("zh", "en")

EN: dict[str, str] = {
    "nav": "Availability",
    "report_title": "Service availability report",
    "summary_title": "Ministry summary: regions ranked",
    "month": "Month",
    "generated": "Generated",
    "timezone": "Time zone",
    "incomplete": "The month is not over: figures up to the time of the report.",
    "rank": "Rank",
    "region": "Region",
    "services": "Services",
    "missed": "Objectives missed",
    "availability": "Availability",
    "objective": "Objective",
    "budget_used": "Error budget used",
    "budget_left": "Error budget left",
    "downtime": "Downtime",
    "unknown": "Unknown (not probed)",
    "maintenance": "Maintenance",
    "incidents": "Incidents",
    "mttr": "MTTR",
    "mtta": "Time to acknowledge",
    "mtbf": "MTBF",
    "service": "Service",
    "site": "Site",
    "daily": "Availability per day",
    "burn_down": "Error budget left over the month",
    "incident_list": "Incidents",
    "started": "Started",
    "resolved": "Resolved",
    "duration": "Duration",
    "acknowledged": "Acknowledged",
    "alerts": "Alerts",
    "runs": "Runbook runs",
    "open": "open",
    "in_maintenance": "began in maintenance (not counted)",
    "maintenance_list": "Maintenance windows",
    "kind": "Kind",
    "planned": "planned",
    "retroactive": "declared after the fact",
    "reason": "Reason",
    "by": "Declared by",
    "from": "From",
    "to": "To",
    "none": "none",
    "worst_case": "Worst case (unknown counted as down)",
    "met": "met",
    "not_met": "missed",
    "national": "national level",
    "legend_good": "good",
    "legend_bad": "down",
    "legend_unknown": "unknown",
    "legend_maintenance": "maintenance",
    "ideal": "even spending",
    "status_title": "Service status",
    "status_intro": "Current state of public services and their availability over the last 90 days.",
    "state_up": "Operational",
    "state_down": "Down",
    "state_unknown": "No data",
    "state_maintenance": "Under maintenance",
    "last_90": "Last 90 days",
    "objectives": "Objectives and error budgets",
    "window": "Window",
    "window_month": "calendar month",
    "window_days": "rolling {days} days",
    "reports": "Monthly reports",
    "no_services": "No service objective in your scope (monitoring/slo.yml).",
    "no_reports": "No report written yet (the monthly job writes the previous month's on the 1st).",
    "add_window": "Declare a maintenance window",
    "after_the_fact": "Declared after the fact (the start lies in the past)",
    "end_window": "End now",
    "services_hint": "Services (one per line; empty: every service of the site)",
    "state": "State",
    "save": "Declare",
    "download": "Download",
}

ZH: dict[str, str] = {
    "nav": "可用性",
    "report_title": "业务系统可用性报告",
    "summary_title": "部级汇总：各地区排名",
    "month": "月份",
    "generated": "生成时间",
    "timezone": "时区",
    "incomplete": "本月尚未结束：数据截至报告生成时。",
    "rank": "排名",
    "region": "地区",
    "services": "系统数",
    "missed": "未达标目标数",
    "availability": "可用率",
    "objective": "目标",
    "budget_used": "已用错误预算",
    "budget_left": "剩余错误预算",
    "downtime": "中断时长",
    "unknown": "未知时长（未探测）",
    "maintenance": "维护时长",
    "incidents": "故障数",
    "mttr": "平均恢复时间（MTTR）",
    "mtta": "平均响应时间",
    "mtbf": "平均故障间隔（MTBF）",
    "service": "业务系统",
    "site": "单位",
    "daily": "每日可用率",
    "burn_down": "本月错误预算剩余",
    "incident_list": "故障列表",
    "started": "开始",
    "resolved": "恢复",
    "duration": "持续时长",
    "acknowledged": "响应",
    "alerts": "告警",
    "runs": "预案执行",
    "open": "未恢复",
    "in_maintenance": "发生在维护期内（不计入）",
    "maintenance_list": "维护窗口",
    "kind": "类型",
    "planned": "计划内",
    "retroactive": "事后补报",
    "reason": "原因",
    "by": "申报人",
    "from": "自",
    "to": "至",
    "none": "无",
    "worst_case": "最差情形（未知按中断计）",
    "met": "达标",
    "not_met": "未达标",
    "national": "国家级",
    "legend_good": "正常",
    "legend_bad": "中断",
    "legend_unknown": "未知",
    "legend_maintenance": "维护",
    "ideal": "均匀消耗",
    "status_title": "服务状态",
    "status_intro": "公开服务的当前状态及近 90 天可用情况。",
    "state_up": "运行正常",
    "state_down": "服务中断",
    "state_unknown": "暂无数据",
    "state_maintenance": "维护中",
    "last_90": "近 90 天",
    "objectives": "服务目标与错误预算",
    "window": "统计周期",
    "window_month": "自然月",
    "window_days": "滚动 {days} 天",
    "reports": "月度报告",
    "no_services": "您的范围内没有服务目标（monitoring/slo.yml）。",
    "no_reports": "尚无报告（每月 1 日自动生成上月报告）。",
    "add_window": "申报维护窗口",
    "after_the_fact": "事后补报（开始时间已过）",
    "end_window": "立即结束",
    "services_hint": "业务系统（每行一个；留空表示该单位全部系统）",
    "state": "状态",
    "save": "申报",
    "download": "下载",
}

TABLES = {"en": EN, "zh": ZH}


def lang_of(locale: object) -> str:
    """``zh`` for any Chinese locale (zh, zh_CN, zh-Hans), else ``en``."""
    return "zh" if str(locale or "").lower().startswith("zh") else "en"


def text(lang: str, key: str, **values: Any) -> str:
    """The word for ``key`` in ``lang`` (English, then the key, when missing), with ``{name}`` values filled."""
    word = TABLES.get(lang, EN).get(key) or EN.get(key) or key
    return word.format(**values) if values else word


def duration(seconds: float | None, lang: str) -> str:
    """A duration for people: ``1 h 5 min``, ``42 s`` (zh: ``1 小时 5 分``)."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = ("天", "小时", "分", "秒") if lang == "zh" else ("d", "h", "min", "s")
    parts = [f"{n} {u}" for n, u in zip((days, hours, minutes, secs), units, strict=True) if n]
    return " ".join(parts[:2]) or ("0 秒" if lang == "zh" else "0 s")


def percent(ratio: float | None, digits: int = 3) -> str:
    """A ratio as a percentage (``99.951 %``), or a dash."""
    if ratio is None:
        return "—"
    return f"{ratio * 100:.{digits}f} %"
