"""The agent's configuration and buffer on their own: a broken file ends the installed command with
exit status 2 and one line naming the key; the buffer keeps its rows across a reopen (a reboot),
drops the oldest when full and counts them, and forgets rows only once acknowledged."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agent.buffer import Buffer, Sample
from agent.config import load_config

VALID = 'vin = "WP0ZZZ99ZTS390000"\n[broker]\nurl = "mqtt://127.0.0.1:1883"\n'


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("vin = [", "not valid TOML"),
        ('vin = "WP0ZZZ99ZTS39000O"\n[broker]\nurl = "mqtt://h"\n', "'vin' 'WP0ZZZ99ZTS39000O' is not 17 characters"),
        (VALID + "[upload]\nmax_messages_per_s = 0\n", "[upload]: 'max_messages_per_s' must be between 0.1 and 1000"),
        (VALID.replace("mqtt://127.0.0.1:1883", "http://h"), "[broker]: broker URL 'http://h' must look like"),
        (VALID + "colour = 'red'\n", "unknown key(s) colour"),
        ('command_key = "abc"\n' + VALID, "'command_key' must be hexadecimal"),
        (VALID + '[obd]\nport = "/dev/null"\nevery_s = { WARP = 1 }\n', "unknown PID 'WARP'"),
        (VALID + '[[can]]\nchannel = "c"\ndbc = "opendbc:no_such_car"\n[[can.signal]]\nmessage = "A"\n'
         'signal = "B"\npath = "Vehicle.Speed"\n', "'dbc' 'opendbc:no_such_car': no such file"),
        (VALID + '[[can]]\nchannel = "c"\ndbc = "opendbc:toyota_prius_2010_pt"\n[[can.signal]]\nmessage = "SPEED"\n'
         'signal = "SPEED"\npath = "Vehicle.Diagnostics.DTCList"\n', "is not a numeric or boolean signal"),
    ],
)  # fmt: skip
def test_a_broken_configuration_ends_the_installed_command_with_one_line(tmp_path: Path, text: str, line: str) -> None:
    command = shutil.which("telemetry-agent", path=str(Path(__file__).parents[1] / ".venv" / "bin"))
    assert command is not None, "the project is installed with its telemetry-agent command (scripts/bootstrap.sh)"
    config = tmp_path / "agent.toml"
    config.write_text(text)
    done = subprocess.run([command, "run", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"telemetry-agent: {config}")
    assert line in lines[0]


def rows(start: int, n: int) -> list[Sample]:
    return [Sample(1_790_000_000_000 + i, "Vehicle.Speed", float(i)) for i in range(start, start + n)]


def test_the_buffer_survives_a_reopen_drops_the_oldest_when_full_and_forgets_only_what_was_acknowledged(
    tmp_path: Path,
) -> None:
    file = tmp_path / "buffer.sqlite"
    buffer = Buffer(file, max_samples=100)
    assert buffer.append(rows(0, 80)) == 0
    assert buffer.append(rows(80, 50)) == 30  # the 30 oldest make room
    buffer.close()

    again = Buffer(file, max_samples=100)  # after a reboot
    assert (again.waiting(), again.dropped()) == (100, 30)
    head = again.head(10)
    assert [r.sample.value for r in head] == [float(i) for i in range(30, 40)]
    again.acknowledge(head[-1].seq)
    assert again.head(1)[0].sample.value == 40.0
    assert again.waiting() == 90
    assert [again.next_message_seq() for _ in range(2)] == [1, 2]
    again.close()
    assert Buffer(file, max_samples=100).next_message_seq() == 3  # never goes backwards


def test_the_shipped_example_configuration_loads_once_its_placeholders_are_filled(tmp_path: Path) -> None:
    shipped = (Path(__file__).parents[1] / "deploy" / "agent" / "agent.toml").read_text()
    (tmp_path / "ca.crt").write_text("a CA\n")
    filled = (
        shipped.replace("<64 hex digits from: telemetry vehicles command-key VIN>", "ab" * 32)
        .replace("<password from telemetry vehicles credentials>", "secret")
        .replace("/etc/telemetry-agent/ca.crt", str(tmp_path / "ca.crt"))
        .replace("/var/lib/telemetry-agent", str(tmp_path / "state"))
    )
    (tmp_path / "agent.toml").write_text(filled)
    config = load_config(tmp_path / "agent.toml")
    assert config.vin == "WP0ZZZ99ZTS390000"
    assert config.command_key == bytes.fromhex("ab" * 32)
    assert config.obd is not None
    assert config.obd.port == "/dev/rfcomm0"
    assert config.upload.max_messages_per_s == 10
