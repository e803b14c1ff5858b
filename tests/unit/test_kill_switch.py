"""The Variable kill switch fails safe: only a plain "off" lets a run go live."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.store.controls import switched_on


@pytest.mark.parametrize("value", ["false", "False", "0", "no", "off", "", "  off "])
def test_plain_off_values_let_the_run_go_live(value: str) -> None:
    assert not switched_on(value)


@pytest.mark.parametrize("value", ["true", "1", "yes", "on", "paused", "gAAAAABlZ3Vhcmh1bnRlcg=="])
def test_anything_else_keeps_it_in_shadow_mode(value: str) -> None:
    # Ciphertext from another component's Fernet key reads as this, not as "off".
    assert switched_on(value)


def test_a_variable_that_cannot_be_read_keeps_the_run_in_shadow_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import Variable

    from autoscaler.airflow import tasks

    def unreadable(key: str, default: Any = None) -> Any:
        raise RuntimeError("Fernet key mismatch")

    monkeypatch.setattr(Variable, "get", staticmethod(unreadable))
    assert tasks.variable_paused()
    monkeypatch.setattr(Variable, "get", staticmethod(lambda key, default=None: default))
    assert not tasks.variable_paused()  # never set: not paused
    monkeypatch.setattr(Variable, "get", staticmethod(lambda key, default=None: "true"))
    assert tasks.variable_paused()
