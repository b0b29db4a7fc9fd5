from __future__ import annotations

from pathlib import Path

import pytest

from index import Store

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "qin-gang-peace-talks.txt"
WEAPONS = "The foreign minister went on to say that China did not provide weapons to Russia"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "clippings.db"


@pytest.fixture
def store(db_path: Path):
    with Store(db_path) as opened:
        yield opened
