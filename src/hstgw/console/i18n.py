"""The console's two languages: English and Simplified Chinese.

Chosen by the ``hstgw_console_lang`` cookie (the switch), else by the browser's
Accept-Language. Messages from the services (validation messages, refusals) stay as
the API words them, so that the console and the API say the same thing; service names
are the platform's, as the API gives them.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LANGS", "LANG_COOKIE", "negotiate", "translator"]

LANGS = ("en", "zh")
LANG_COOKIE = "hstgw_console_lang"

# key -> (English, 简体中文)
_TEXT: dict[str, tuple[str, str]] = {
    "console": ("Developer console", "开发者控制台"),
    "skip": ("Skip to content", "跳到正文"),
    "signin": ("Sign in", "登录"),
    "signout": ("Sign out", "退出"),
    "signin_failed": (
        "Sign-in failed: check dev_id and dev_secret.",
        "登录失败:请检查 dev_id 和 dev_secret。",
    ),
    "signin_busy": ("Too many failed sign-ins; retry later.", "登录失败次数过多,请稍后再试。"),
    "signin_many": (
        "Too many sign-ins for this developer; retry later.",
        "该开发者登录次数过多,请稍后再试。",
    ),
    "signed_out": ("You are signed out.", "已退出。"),
    "session_over": ("Your session has ended; sign in again.", "会话已结束,请重新登录。"),
    "language": ("Language", "语言"),
    "switch": ("Switch", "切换"),
    "overview": ("Overview", "概览"),
    "apps": ("Apps", "应用"),
    "online": ("Online", "在线"),
    "events": ("Groups and events", "群组与事件"),
    "webhooks": ("Webhooks", "Webhook"),
    "billing": ("Billing", "账单"),
    "summary": ("Monthly summary", "月度汇总"),
    "month_spend": ("Spend this month", "本月消费"),
    "by_term": ("By charge term", "按计费项"),
    "by_app": ("By app", "按应用"),
    "daily": ("Daily spend, last 30 days", "最近 30 天每日消费"),
    "day": ("Day", "日期"),
    "terminals_now": ("Terminals online now", "当前在线终端"),
    "month_peak": ("Peak this month", "本月峰值"),
    "limit": ("Consumption limit (yuan/month)", "消费上限(元/月)"),
    "limit_use": ("Of the limit", "已用上限"),
    "no_limit": ("none", "无"),
    "charge_term": ("Charge term", "计费项"),
    "amount": ("Amount (yuan)", "金额(元)"),
    "records": ("Records", "记录数"),
    "total": ("Total", "合计"),
    "app": ("App", "应用"),
    "all": ("All", "全部"),
    "app_id": ("App ID", "应用 ID"),
    "app_name": ("App name", "应用名称"),
    "app_secret": ("App secret", "应用密钥"),
    "reveal": ("Reveal the secret", "显示密钥"),
    "status": ("Status", "状态"),
    "st_online": ("online", "上线"),
    "st_offline": ("offline", "下线"),
    "services": ("Services", "服务"),
    "service": ("Service", "服务"),
    "use_limit": ("Use limit", "用量上限"),
    "use_limit_hint": (
        "minutes (messages for signaling); empty: none",
        "分钟(信令为条数);留空为无上限",
    ),
    "new_app": ("Create an app", "创建应用"),
    "create": ("Create", "创建"),
    "edit": ("Edit", "编辑"),
    "save": ("Save", "保存"),
    "delete": ("Delete", "删除"),
    "delete_app": ("Delete this app", "删除此应用"),
    "delete_confirm": (
        "Delete the app {name}? Its terminals are disconnected; its billing records are kept.",
        "删除应用 {name}?其终端将被断开;账单记录会保留。",
    ),
    "cancel": ("Cancel", "取消"),
    "created": ("The app was created.", "应用已创建。"),
    "saved": ("Saved.", "已保存。"),
    "deleted": ("The app was deleted.", "应用已删除。"),
    "no_apps": ("No apps yet.", "还没有应用。"),
    "open": ("Open", "打开"),
    "user": ("User", "用户"),
    "mutex_type": ("Terminal kind", "终端类型"),
    "company": ("Company", "公司"),
    "state": ("State", "状态"),
    "since": ("Since (online or offline)", "上线或离线时间"),
    "t_online": ("online", "在线"),
    "t_offline": ("offline", "离线"),
    "search_user": ("Search by user", "按用户搜索"),
    "search": ("Search", "搜索"),
    "kick": ("Kick", "踢出"),
    "kicked": ("Kicked {n} terminal(s).", "已踢出 {n} 个终端。"),
    "trans_cmd": ("Send a command (trans-cmd)", "下发指令(trans-cmd)"),
    "trans_mess": ("Command (a JSON object)", "指令(JSON 对象)"),
    "send": ("Send", "发送"),
    "sent": ("Result per terminal: {results}", "每个终端的结果:{results}"),
    "no_terminals": ("No terminals.", "没有终端。"),
    "live": ("Updates live.", "实时更新。"),
    "choose_app": ("Choose an app", "选择应用"),
    "show": ("Show", "显示"),
    "groups": ("Groups", "群组"),
    "group": ("Group", "群组"),
    "users": ("Users", "用户"),
    "media": ("Media", "媒体"),
    "no_groups": ("No groups.", "没有群组。"),
    "event_log": ("Event log", "事件日志"),
    "version": ("Version", "版本"),
    "event": ("Event", "事件"),
    "time": ("Time", "时间"),
    "detail": ("Detail", "详情"),
    "no_events": ("No events.", "没有事件。"),
    "url": ("URL", "地址"),
    "deliveries": ("Deliveries", "投递记录"),
    "failures": ("Failures", "失败"),
    "attempts": ("Attempts", "尝试次数"),
    "redeliver": ("Redeliver", "重新投递"),
    "redelivered": ("Queued for delivery again.", "已重新排队投递。"),
    "no_webhooks": ("No webhook endpoints.", "没有 Webhook 端点。"),
    "start": ("From", "开始"),
    "end": ("To", "结束"),
    "filter": ("Filter", "筛选"),
    "csv": ("Download CSV", "下载 CSV"),
    "page": ("Page {page} of {pages}", "第 {page} / {pages} 页"),
    "prev": ("Previous", "上一页"),
    "next": ("Next", "下一页"),
    "no_records": ("No records.", "没有记录。"),
    "nothing_spent": ("Nothing spent.", "没有花费。"),
    "month": ("Month", "月份"),
    "product": ("Product", "产品"),
    "duration": ("Seconds", "时长(秒)"),
    "not_found": ("Not found.", "未找到。"),
    "error": ("Error", "错误"),
    "busy": ("Too many requests; retry later.", "请求过多,请稍后再试。"),
    "chart_alt": (
        "Chart of the daily spend; the same figures are in the table below.",
        "每日消费图;下表为相同数据。",
    ),
    "table_of_days": ("The daily figures", "每日数据"),
    "term_1": ("1 audio", "1 音频"),
    "term_2": ("2 video", "2 视频"),
    "term_4": ("4 screen share", "4 屏幕共享"),
    "term_6": ("6 signaling", "6 信令"),
    "term_7": ("7 peak online terminals", "7 在线峰值"),
    "term_8": ("8 recording", "8 录制"),
    "term_9": ("9 recording storage", "9 录制存储"),
    "term_10": ("10 recording traffic", "10 录制流量"),
    "term_11": ("11 WeChat mini-program audio", "11 小程序音频"),
    "term_12": ("12 WeChat mini-program video", "12 小程序视频"),
}
_INDEX = {lang: i for i, lang in enumerate(LANGS)}


def negotiate(cookie: str | None, accept_language: str) -> str:
    """The switch's choice, else the first of the browser's languages we speak."""
    if cookie in _INDEX:
        return cookie
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, i, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"


def translator(lang: str) -> Callable[..., str]:
    index = _INDEX.get(lang, 0)

    def t(key: str, **values: object) -> str:
        text = _TEXT[key][index]
        return text.format(**values) if values else text

    return t
