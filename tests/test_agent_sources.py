"""The vehicle agent reads real third-party sources and the server stores what they said under the
right VSS paths and units: ELM327-emulator's car over a pseudo-tty (python-OBD), and frames of a
real car's DBC (opendbc's Toyota Prius) encoded with cantools on python-can's virtual bus."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import can
import cantools
import pytest

from agent.config import load_config, resolve_dbc
from agent.runner import Agent
from bench.agent import Running
from telemetry.storage.db import connect_sync
from tests.fix_agent import EMULATOR_VIN, agent_process, elm327, start_agent, stop, write_config
from tests.fix_server import Server, wait_for

pytestmark = pytest.mark.slow
PRIUS = resolve_dbc("opendbc:toyota_prius_2010_pt", Path())


def register(server: Server, vin: str) -> None:
    body = {"vin": vin, "make": "Toyota", "model": "Prius", "model_year": 2010, "powertrain": "hybrid"}
    response = server.api.post("/vehicles", json=body)
    assert response.status_code == 201, response.text


def latest(server: Server, vin: str, columns: str) -> dict[str, object] | None:
    """The vehicle's newest stored value of each column (None until every one has a value)."""
    with connect_sync(server.settings) as conn:
        names = [c.strip() for c in columns.split(",")]
        picks = ", ".join(f"(array_agg({c} ORDER BY ts DESC) FILTER (WHERE {c} IS NOT NULL))[1] AS {c}" for c in names)
        row = conn.execute(
            f"SELECT {picks} FROM samples s JOIN vehicles v ON v.id = s.vehicle_id WHERE v.vin = %s", (vin,)
        ).fetchone()
    return row if row is not None and all(row[c] is not None for c in names) else None


def test_an_elm327_car_is_read_and_stored_under_vss_paths_in_catalog_units(server: Server, tmp_path: Path) -> None:
    register(server, EMULATOR_VIN)
    extra = '[obd]\nport = "{tty}"\ndtc_every_s = 2\nstatus_every_s = 2\nevery_s = {{ FUEL_LEVEL = 1, RUN_TIME = 1 }}\n'
    with elm327(tmp_path) as tty:
        config = write_config(tmp_path, server.settings, EMULATOR_VIN, extra=extra.format(tty=tty))
        checked = start_agent(config, tmp_path / "check.log", "check")
        assert checked.wait(60) == 0, (tmp_path / "check.log").read_text()
        listing = (tmp_path / "check.log").read_text()
        assert "supported: SPEED, RPM" in listing
        assert "not supported (skipped): OIL_TEMP, AMBIANT_AIR_TEMP" in listing
    columns = "speed, engine_speed, coolant_temperature, fuel_level, lv_voltage, manifold_pressure, mass_air_flow"
    columns += ", run_time, mil_on, dtc_count"
    with elm327(tmp_path) as tty:
        config = write_config(tmp_path, server.settings, EMULATOR_VIN, extra=extra.format(tty=tty))
        with agent_process(config, tmp_path / "agent.log"):
            row = wait_for(lambda: latest(server, EMULATOR_VIN, columns), timeout=60)
    # the emulator's car: coolant 55 °C, fuel 2/3, 14.667 V, MAP 38 kPa, MAF 61.75 g/s, lamp off
    assert row["coolant_temperature"] == 55.0
    assert row["fuel_level"] == pytest.approx(66.667, abs=0.01)
    assert row["lv_voltage"] == pytest.approx(14.667)
    assert row["manifold_pressure"] == 38.0
    assert row["mass_air_flow"] == pytest.approx(61.75)
    assert (row["mil_on"], row["dtc_count"]) == (0.0, 0.0)
    assert 0 <= row["speed"] <= 250
    assert 500 <= row["engine_speed"] <= 8000
    log = (tmp_path / "agent.log").read_text()
    assert log.count("not supported by this car: OIL_TEMP, AMBIANT_AIR_TEMP") == 1  # reported once
    with connect_sync(server.settings) as conn:
        never = conn.execute(
            "SELECT count(oil_temperature) AS oil, count(air_temperature) AS air FROM samples s"
            " JOIN vehicles v ON v.id = s.vehicle_id WHERE v.vin = %s",
            (EMULATOR_VIN,),
        ).fetchone()
        software = conn.execute("SELECT software_version FROM vehicles WHERE vin = %s", (EMULATOR_VIN,)).fetchone()
    assert never == {"oil": 0, "air": 0}
    assert software == {"software_version": "3.1.0"}  # reported as the contract says


def test_a_wifi_adapter_is_read_over_tcp(server: Server, tmp_path: Path) -> None:
    with elm327(tmp_path, tcp=True) as port:
        config = write_config(tmp_path, server.settings, EMULATOR_VIN, extra=f'[obd]\nport = "{port}"\n')
        checked = start_agent(config, tmp_path / "check.log", "check")
        assert checked.wait(60) == 0, (tmp_path / "check.log").read_text()
    assert f"OBD-II: ISO 15765-4 (CAN 11/500); car VIN {EMULATOR_VIN}" in (tmp_path / "check.log").read_text()


def test_a_car_answering_another_vin_stops_the_agent_with_one_line(server: Server, tmp_path: Path) -> None:
    with elm327(tmp_path) as tty:
        config = write_config(tmp_path, server.settings, "WVWZZZ1JZXW000001", extra=f'[obd]\nport = "{tty}"\n')
        proc = start_agent(config, tmp_path / "agent.log")
        try:
            assert proc.wait(60) == 2
        finally:
            stop(proc)
    last = (tmp_path / "agent.log").read_text().strip().splitlines()[-1]
    assert last == f"telemetry-agent: the car answers VIN {EMULATOR_VIN}, the configuration says WVWZZZ1JZXW000001"


@contextmanager
def agent_in_process(config: Path) -> Iterator[Agent]:
    """The agent on an event loop thread of this process: python-can's virtual bus is per process."""
    running = Running(Agent(load_config(config)))
    try:
        yield running.agent
    finally:
        running.stop()


def test_can_frames_of_a_real_dbc_arrive_as_vss_values_and_bad_frames_are_counted(
    server: Server, tmp_path: Path
) -> None:
    vin = "JTDKB20U093000001"
    register(server, vin)
    channel = f"agent-{secrets.token_hex(4)}"
    extra = f"""
[[can]]
interface = "virtual"
channel = "{channel}"
dbc = "opendbc:toyota_prius_2010_pt"
[[can.signal]]
message = "SPEED"
signal = "SPEED"
path = "Vehicle.Speed"   # openpilot reads this Toyota signal as km/h whatever the DBC's label
every_s = 0.05
[[can.signal]]
message = "POWERTRAIN"
signal = "ENGINE_RPM"
path = "Vehicle.OBD.EngineSpeed"   # an old name: mapped to its VSS 6.0 path
every_s = 0.05
"""
    config = write_config(tmp_path, server.settings, vin, extra=extra)
    database = cantools.database.load_file(str(PRIUS))
    speed, engine = database.get_message_by_name("SPEED"), database.get_message_by_name("POWERTRAIN")
    with agent_in_process(config) as agent, can.Bus(interface="virtual", channel=channel) as bus:
        source = agent.sources[0]
        wait_for(lambda: source._bus is not None)  # type: ignore[attr-defined]  # frames sent before are lost
        for _ in range(20):
            bus.send(can.Message(arbitration_id=speed.frame_id, data=speed.encode(
                {"ENCODER": 0, "SPEED": 88.0, "CHECKSUM": 0}), is_extended_id=False))  # fmt: skip
            bus.send(can.Message(arbitration_id=engine.frame_id, data=engine.encode(
                {"ENGINE_RPM": 2100, "CHECKSUM": 0}), is_extended_id=False))  # fmt: skip
            bus.send(can.Message(arbitration_id=0x7F0, data=b"\x01\x02", is_extended_id=False))  # not in the DBC
            bus.send(can.Message(arbitration_id=speed.frame_id, data=b"\x00\x01", is_extended_id=False))  # too short
            threading.Event().wait(0.06)
        row = wait_for(lambda: latest(server, vin, "speed, engine_speed"), timeout=30)
        assert wait_for(lambda: source.counts["unknown_id"] == 20 and source.counts["bad_frame"] == 20)  # type: ignore[attr-defined]
    assert row["speed"] == pytest.approx(88.0, abs=0.01)  # 0.0062 per bit
    assert row["engine_speed"] == 2100.0
