"""The figure helpers draw what they are given (checked on the drawn line data, not by eye)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from vae_teach import plots  # noqa: E402
from vae_teach.history import History  # noqa: E402


def test_recorded_curves_draws_each_runs_series_against_its_epochs():
    short = {"test_nelbo": [100.0, 98.0, 97.0], "train_loss": [1.0, 2.0, 3.0]}
    long = History(test_nelbo=[110.0, 99.0, 96.5, 95.0, 94.0])
    ax = plots.recorded_curves({"a": short, "b": long}, ylim=(90, 112))
    (la, lb) = ax.get_lines()
    assert list(la.get_xdata()) == [1, 2, 3] and list(la.get_ydata()) == short["test_nelbo"]
    assert list(lb.get_xdata()) == [1, 2, 3, 4, 5] and list(lb.get_ydata()) == long.test_nelbo
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (3 epochs)", "b (5 epochs)"]
    assert ax.get_ylim() == (90, 112) and "nats per image" in ax.get_ylabel()
    plt.close("all")


def test_recorded_curves_names_the_run_without_the_series():
    with pytest.raises(ValueError, match="'b' has no recorded 'test_nelbo'.*train_loss"):
        plots.recorded_curves({"a": {"test_nelbo": [1.0]}, "b": {"train_loss": [1.0], "test_nelbo": []}})
    with pytest.raises(ValueError, match="histories is empty"):
        plots.recorded_curves({})
    plt.close("all")


def test_recorded_curves_continues_a_run_after_the_epochs_it_started_from():
    parent = {"test_nelbo": [100.0, 98.0, 97.0]}
    child = {"test_nelbo": [97.5, 96.8]}
    ax = plots.recorded_curves({"parent": parent, "child": child}, starts={"child": 3})
    (_, lc) = ax.get_lines()
    assert list(lc.get_xdata()) == [4, 5] and list(lc.get_ydata()) == child["test_nelbo"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["parent (3 epochs)", "child (epochs 4-5)"]
    with pytest.raises(ValueError, match="starts names runs that are not in histories: nobody"):
        plots.recorded_curves({"parent": parent}, starts={"nobody": 3})
    plt.close("all")
