"""scripts/check-libs (run by scripts/test before anything else) names a shared
library a binary lacks, in a sentence, and exits 1; with every library there, 0."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "check-libs"


def check(*binaries: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *map(str, binaries)], capture_output=True,
                          text=True, timeout=60, check=False)


def test_a_missing_library_is_named(tmp_path: Path) -> None:
    binary = tmp_path / "tool"
    shutil.copy(shutil.which("true") or "/bin/true", binary)
    elf = binary.read_bytes()
    assert b"libc.so.6" in elf
    binary.write_bytes(elf.replace(b"libc.so.6", b"libx.so.6"))  # needs a library nobody has
    result = check(binary)
    assert result.returncode == 1
    assert f"{binary} needs libx.so.6, which is not installed" in result.stderr


def test_a_missing_binary_is_named_and_present_ones_pass(tmp_path: Path) -> None:
    assert check(Path(shutil.which("true") or "/bin/true")).returncode == 0
    result = check(tmp_path / "absent")
    assert result.returncode == 1 and f"{tmp_path / 'absent'} is not installed" in result.stderr
