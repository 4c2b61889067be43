"""Shared fixtures for the imaging tests."""

from __future__ import annotations

import pandas as pd
import pytest

from spineoutcome.imaging import LandmarkCatalogue
from tests.imaging.crafted import CRAFTED, keypoint_frame


@pytest.fixture(scope="session")
def catalogue() -> LandmarkCatalogue:
    return LandmarkCatalogue.load()


@pytest.fixture()
def crafted() -> pd.DataFrame:
    return keypoint_frame(CRAFTED)
