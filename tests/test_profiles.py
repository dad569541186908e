"""The named profiles are the winners of the measured table."""
import pandas as pd
import pytest

from lic_lib.profile_choice import DATASETS, chosen_models, profile_table
from lic_lib.profiles import PROFILES


def test_profiles_name_the_measured_winners():
    table = profile_table()
    assert {"checkerboard", "msp-balanced", "pms-base"} <= set(table.index)
    chosen = chosen_models(table)
    assert {p: c.model for p, c in PROFILES.items()} == chosen
    assert PROFILES["best"].lof is not None and PROFILES["balanced"].lof is None
    # balanced is the lowest on every data set here, not only on average
    for ds in DATASETS:
        assert table[f"{ds} [%]"].idxmin() == chosen["balanced"]


def _table(rows):
    cols = ["steps", *[f"{ds} [%]" for ds in DATASETS]]
    t = pd.DataFrame(rows, index=[r[0] for r in rows]).iloc[:, 1:]
    t.columns = cols
    t["mean [%]"] = t[cols[1:]].mean(axis=1)
    return t


def test_rules_on_a_made_up_table():
    t = _table([("a", 3, -1.0, 0.5, -2.0),      # fewest steps, loses on ood
                ("b", 4, -1.0, -1.0, -1.0),
                ("c", 4, -2.0, -1.0, -1.0),     # ties b on steps, saves more
                ("d", 30, -5.0, -4.0, -6.0)])
    assert chosen_models(t) == {"fast": "c", "balanced": "d", "best": "d"}
    with pytest.raises(ValueError, match="saves bits"):
        chosen_models(_table([("a", 3, 1.0, -1.0, -1.0)]))
