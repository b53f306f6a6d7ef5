"""The vehicle agent's cost on the box and its backlog upload rate, against the real broker.

Live: the agent reads 40 signals at 1 Hz from a CAN bus (python-can's virtual bus, five frames of
eight signals a second, a DBC made with cantools), buffers and uploads them; the figure is the
agent's CPU in % of one core (the process's CPU minus the frame sender's thread) and its memory.
Backlog: a day at 1 Hz × 40 signals (3,456,000 rows) waits in the buffer when the broker comes
back; the figure is samples/s until the broker acknowledged the last one (targets: < 5 % of one
core live, the day in under 2 minutes on loopback).

    python -m bench.agent [--live-s 60] [--backlog-hours 24] [--smoke]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import secrets
import tempfile
import threading
import time
from pathlib import Path

import can
import cantools
from cantools.database import Database, Message, Signal
from cantools.database.conversion import BaseConversion

from agent.buffer import Buffer, Sample
from agent.config import load_config
from agent.runner import Agent
from bench import smoke
from telemetry.catalog import default_catalog

SIGNALS = 40
PER_FRAME = 8


def numeric_paths() -> list[str]:
    """40 numeric catalog paths (the bench's values, 1.0 to 2.0, are in range for each)."""
    paths = [s.path for s in default_catalog().signals if s.kind == "number" and (s.min or 0) <= 1 <= (s.max or 1e9)]
    return paths[:SIGNALS]


def bench_dbc(folder: Path) -> Database:
    messages = [
        Message(frame_id=0x100 + m, name=f"BENCH_{m}", length=8, signals=[
            Signal(name=f"S{m}_{i}", start=i * 8, length=8, conversion=BaseConversion.factory(scale=0.01, offset=1.0))
            for i in range(PER_FRAME)])
        for m in range(SIGNALS // PER_FRAME)
    ]  # fmt: skip
    database = Database(messages=messages)
    cantools.database.dump_file(database, str(folder / "bench.dbc"))
    return database


def write_config(folder: Path, channel: str) -> Path:
    paths = numeric_paths()
    lines = [
        f'vin = "WAUZZZ8V0KA{secrets.randbelow(10**6):06d}"',
        'state_dir = "state"',
        'software_version = "1.0"',
        f'[broker]\nurl = "{os.environ.get("TELEMETRY_MQTT_URL", "mqtt://127.0.0.1:1883")}"',
        f'topic_prefix = "bench-{secrets.token_hex(3)}/"',
        f'[[can]]\ninterface = "virtual"\nchannel = "{channel}"\ndbc = "bench.dbc"',
    ]
    for n, path in enumerate(paths):
        m, i = divmod(n, PER_FRAME)
        lines.append(f'[[can.signal]]\nmessage = "BENCH_{m}"\nsignal = "S{m}_{i}"\npath = "{path}"\nevery_s = 1')
    config = folder / "agent.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Running:
    """The agent on an event loop of its own, in a thread (the virtual bus is per process)."""

    def __init__(self, agent: Agent) -> None:
        self.agent, self.loop = agent, asyncio.new_event_loop()
        self.task: asyncio.Task[None] | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.task = self.loop.create_task(self.agent.run())
        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(self.task)

    def stop(self) -> None:
        while self.task is None:
            time.sleep(0.01)
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(30)
        self.loop.close()


def live(folder: Path, seconds: float) -> dict[str, float]:
    channel = f"bench-{secrets.token_hex(3)}"
    database = bench_dbc(folder)
    agent = Agent(load_config(write_config(folder, channel)))
    running = Running(agent)
    sender_cpu = 0.0
    stop = threading.Event()

    def send() -> None:
        nonlocal sender_cpu
        with can.Bus(interface="virtual", channel=channel) as bus:
            tick = time.monotonic()
            while not stop.is_set():
                for message in database.messages:
                    data = message.encode({s.name: 1.0 + (tick % 1) for s in message.signals})
                    bus.send(can.Message(arbitration_id=message.frame_id, data=data, is_extended_id=False))
                tick += 1.0
                stop.wait(max(0.0, tick - time.monotonic()))
            sender_cpu = time.thread_time()

    time.sleep(3.0)  # connected, sources open, first flushes done: measure the steady state
    sender = threading.Thread(target=send, daemon=True)
    cpu0, wall0 = time.process_time(), time.monotonic()
    sender.start()
    time.sleep(seconds)
    stop.set()
    sender.join()
    cpu, wall = time.process_time() - cpu0 - sender_cpu, time.monotonic() - wall0
    uploaded = agent.uplink.uploaded
    running.stop()
    return {
        "live_cpu_percent_of_one_core": round(100 * cpu / wall, 2),
        "live_rss_mib": round(rss_mib(), 1),
        "live_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "live_samples_uploaded": uploaded,
        "live_seconds": round(wall, 1),
    }


def backlog(folder: Path, hours: float) -> dict[str, float]:
    bench_dbc(folder)  # the bus stays idle: only the backlog moves
    config = load_config(write_config(folder, f"idle-{secrets.token_hex(3)}"))
    paths = numeric_paths()
    moments = int(hours * 3600)
    start_ms = time.time_ns() // 1_000_000 - moments * 1000
    buffer = Buffer(config.buffer_file, config.buffer_max_samples)
    for first in range(0, moments, 5000):
        buffer.append(
            Sample(start_ms + t * 1000, p, 1.5) for t in range(first, min(first + 5000, moments)) for p in paths
        )
    rows = buffer.waiting()
    buffer.close()
    agent = Agent(config)
    began = time.monotonic()
    running = Running(agent)
    while agent.uplink.uploaded < rows:
        time.sleep(0.05)
    seconds = time.monotonic() - began
    running.stop()
    return {
        "backlog_hours": hours,
        "backlog_samples": rows,
        "backlog_upload_s": round(seconds, 2),
        "backlog_samples_per_s": round(rows / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live-s", type=float, default=60.0)
    parser.add_argument("--backlog-hours", type=float, default=24.0)
    args = smoke.parse(parser, live_s=3.0, backlog_hours=0.1)
    with tempfile.TemporaryDirectory() as live_dir, tempfile.TemporaryDirectory() as backlog_dir:
        figures = {
            "bench": "agent",
            "smoke": args.smoke,
            "signals": SIGNALS,
            **live(Path(live_dir), args.live_s),
            **backlog(Path(backlog_dir), args.backlog_hours),
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
