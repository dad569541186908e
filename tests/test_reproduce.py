"""`make reproduce` plans one job per committed result file."""

import importlib.util

from lic_lib import results

spec = importlib.util.spec_from_file_location(
    "reproduce", results.ROOT / "tools" / "reproduce.py")
reproduce = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reproduce)


def test_every_committed_result_has_a_job_with_an_estimate():
    jobs = {name: (cost, cmd) for name, cost, cmd in reproduce.jobs()}
    committed = {f"{p.parent.name}/{p.stem}"
                 for p in results.RESULTS.glob("*/*.json")
                 if p.parent.name not in reproduce.NOT_RD}
    assert committed <= set(jobs)
    assert all(cost >= 0 for cost, _ in jobs.values())
    cost, cmd = jobs["kodak/jpeg"]
    assert cmd[:2] == ["lic", "anchors"] and "jpeg" in cmd and cost > 0
    cost, cmd = jobs["kodak/msp-balanced+lof"]
    assert "lof=LOFConfig()" in cmd[-1] and "'msp-balanced'" in cmd[-1]
