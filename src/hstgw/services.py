"""The service table: the platform's service ids and names (seed: service_id).

One place for this fact; the API validates against it, responses name services
from it, and later the billing price table refers to these ids.
"""

from __future__ import annotations

__all__ = ["SERVICES", "ServiceId", "service_name"]

from enum import IntEnum


class ServiceId(IntEnum):
    VIDEO = 3
    AUDIO = 4
    SCREEN_SHARE = 5
    SIGNALING = 6
    ONLINE = 7
    RECORDING = 8
    WECHAT_MINI_PROGRAM = 9


SERVICES: dict[int, str] = {
    ServiceId.VIDEO: "视频服务",
    ServiceId.AUDIO: "音频服务",
    ServiceId.SCREEN_SHARE: "屏幕共享服务",
    ServiceId.SIGNALING: "信令通道服务",
    ServiceId.ONLINE: "在线服务",
    ServiceId.RECORDING: "录制服务",
    ServiceId.WECHAT_MINI_PROGRAM: "微信小程序服务",
}


def service_name(service_id: int) -> str:
    return SERVICES[service_id]
