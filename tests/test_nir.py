"""NIR export and import: the graph limprob writes, the network it reads back (spike counts equal
bit for bit), and the graphs and files it refuses."""

import json
from dataclasses import replace

import h5py
import nir
import numpy as np
import pytest
import xarray as xr

from conftest import SMALL_TRACE
from limprob.chip import SimulatedChip, from_nir, to_nir, write_nir
from limprob.chip.nir import NODES, lif_node
from limprob.cli import main
from limprob.data import load_table, split
from limprob.errors import LimprobError
from limprob.inference.evaluation import POINT_ESTIMATES, accuracy, point_estimate_weights
from limprob.io import load_trace, save_trace
from limprob.likelihood.chip_likelihood import class_probabilities
from limprob.snn import Network, lif_counts_numpy
from test_cli import assert_refused, run_cli

NETWORK = Network(n_hidden=5, n_steps=20, beta=0.83, theta=0.7)


@pytest.fixture(scope="module")
def weights():
    rng = np.random.default_rng(3)
    return rng.normal(0, 1.5, (30, 5)), rng.normal(0, 1.5, (5, 2))


@pytest.fixture
def graph_file(tmp_path, weights):
    return write_nir(to_nir(*weights, NETWORK, {"kappa": 5.0}), tmp_path / "net.nir")


def test_the_graph_is_the_documented_chain(graph_file, weights):
    graph = nir.read(graph_file)
    assert [type(graph.nodes[n]).__name__ for n in NODES] == [
        "Input",
        "Linear",
        "LIF",
        "Linear",
        "LIF",
        "Output",
    ]
    assert graph.edges == list(zip(NODES[:-1], NODES[1:]))
    np.testing.assert_array_equal(graph.nodes["W_in"].weight, weights[0].T)
    np.testing.assert_array_equal(graph.nodes["W_out"].weight, weights[1].T)
    hidden = graph.nodes["hidden"]
    dt = float(graph.metadata["dt"])
    np.testing.assert_allclose(hidden.tau, dt / (1 - NETWORK.beta), rtol=1e-12)
    np.testing.assert_allclose(hidden.r, hidden.tau / dt, rtol=1e-12)
    np.testing.assert_array_equal(hidden.v_leak, 0.0)
    np.testing.assert_array_equal(hidden.v_threshold, NETWORK.theta)
    assert graph.metadata["reset_mechanism"] == "subtract"
    assert int(graph.metadata["time_steps"]) == NETWORK.n_steps
    assert float(graph.metadata["kappa"]) == 5.0


def test_read_back_spike_counts_are_identical(graph_file, weights, data):
    loaded = from_nir(graph_file)
    assert loaded.network == NETWORK
    assert loaded.metadata["kappa"] == 5.0
    x = data.test["features"].values
    ideal = SimulatedChip(loaded.n_inputs, loaded.n_outputs, loaded.network, strength=0.0)
    counts = ideal.run(*weights, x)
    np.testing.assert_array_equal(ideal.run(loaded.w_in, loaded.w_out, x), counts)
    reference = lif_counts_numpy(
        x,
        *weights,
        *(np.full(5, v) for v in (0.83, 0.7)),
        *(np.full(2, v) for v in (0.83, 0.7)),
        20,
    )
    np.testing.assert_array_equal(counts, reference)
    assert counts.sum() > 0  # the comparison is not between silent networks


def test_export_of_a_trace_reproduces_its_ideal_chip_predictions(small_trace, tmp_path, capsys):
    tree = load_trace(small_trace)
    labels = tree["predictions_constant_data"]["y"].values
    chip = SimulatedChip(30, 2, SMALL_TRACE.network, 0.0)
    for which in POINT_ESTIMATES:
        out = tmp_path / f"{which}.nir"
        code, stdout, _ = run_cli(
            ["export", str(small_trace), "--nir", str(out), "--weights", which], capsys
        )
        assert code == 0 and out.is_file() and "wrote" in stdout
        loaded = from_nir(out)
        w_in, w_out = point_estimate_weights(
            tree["posterior"].to_dataset(), tree["log_likelihood"].to_dataset(), which
        )
        np.testing.assert_array_equal(loaded.w_in, w_in)
        np.testing.assert_array_equal(loaded.w_out, w_out)
        assert loaded.network == chip.network
        assert loaded.metadata["weights"] == which and loaded.metadata["chip_strength"] == 0.0
        # the trace was trained on the ideal chip: its stored point predictions are the
        # reference, measured at training time
        test = split(load_table(), seed=int(loaded.metadata["data_seed"])).test
        counts = chip.run(loaded.w_in, loaded.w_out, test["features"].values)
        stored = tree["point_estimates"]["probability"].sel(point_estimate=which).values
        np.testing.assert_array_equal(
            class_probabilities(counts, loaded.metadata["kappa"], loaded.network.n_steps), stored
        )
        if which == "best":  # the command builds its own ideal chip: once is enough
            code, stdout, _ = run_cli(["evaluate", "--network", str(out), "--json"], capsys)
            assert code == 0
            assert json.loads(stdout)["test_accuracy_ideal_chip"] == accuracy(stored, labels)


def write_graph(path, nodes, edges, metadata=None):
    meta = {"time_steps": 16, "reset_mechanism": "subtract"} if metadata is None else metadata
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False))
    return path


def chain_nodes(w_in, w_out, lif=None):
    network = Network(w_in.shape[1], 16)
    return dict(
        zip(
            NODES,
            (
                nir.Input(input_type={"input": np.array([w_in.shape[0]])}),
                nir.Linear(weight=w_in.T),
                lif or lif_node(network, w_in.shape[1]),
                nir.Linear(weight=w_out.T),
                lif_node(network, w_out.shape[1]),
                nir.Output(output_type={"output": np.array([w_out.shape[1]])}),
            ),
        )
    )


CHAIN_EDGES = list(zip(NODES[:-1], NODES[1:]))


def bad_graphs(tmp_path, w_in, w_out):
    """(file, words of the refusal) for graphs limprob's network cannot represent."""
    conv = chain_nodes(w_in, w_out)
    conv["W_in"] = nir.Conv2d(
        input_shape=(6, 5),
        weight=np.ones((5, 1, 3, 3)),
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=np.zeros(5),
    )
    cuba = chain_nodes(w_in, w_out)
    h = w_in.shape[1]
    cuba["hidden"] = nir.CubaLIF(
        tau_syn=np.full(h, 2e-3),
        tau_mem=np.full(h, 1e-3),
        r=np.full(h, 10.0),
        v_leak=np.zeros(h),
        v_threshold=np.ones(h),
    )
    recurrent = chain_nodes(w_in, w_out)
    recurrent["recurrent"] = nir.Linear(weight=np.eye(h))
    biased = chain_nodes(w_in, w_out)
    biased["W_out"] = nir.Affine(weight=w_out.T, bias=np.array([0.0, 0.5]))
    uneven = chain_nodes(w_in, w_out)
    uneven["hidden"].tau[0] *= 2
    wrong_shape = chain_nodes(w_in, w_out)
    wrong_shape["W_out"] = nir.Linear(weight=np.ones((2, h + 1)))
    return [
        (write_graph(tmp_path / "conv.nir", conv, CHAIN_EDGES), "Conv2d"),
        (write_graph(tmp_path / "cuba.nir", cuba, CHAIN_EDGES), "CubaLIF"),
        (
            write_graph(
                tmp_path / "recurrent.nir",
                recurrent,
                CHAIN_EDGES + [("hidden", "recurrent"), ("recurrent", "W_in")],
            ),
            "recurrent edge",
        ),
        (
            write_graph(
                tmp_path / "self.nir", chain_nodes(w_in, w_out), CHAIN_EDGES + [("hidden", "W_in")]
            ),
            "recurrent edge",
        ),
        (write_graph(tmp_path / "bias.nir", biased, CHAIN_EDGES), "non-zero bias"),
        (write_graph(tmp_path / "tau.nir", uneven, CHAIN_EDGES), "time constants tau differ"),
        (write_graph(tmp_path / "shape.nir", wrong_shape, CHAIN_EDGES), "shapes do not chain"),
        (
            write_graph(
                tmp_path / "reset.nir", chain_nodes(w_in, w_out), CHAIN_EDGES, {"time_steps": 16}
            ),
            "no reset_mechanism and none was given",
        ),
        (
            write_graph(
                tmp_path / "reset_to.nir",
                chain_nodes(w_in, w_out),
                CHAIN_EDGES,
                {"time_steps": 16, "reset_mechanism": "none"},
            ),
            "reset_mechanism 'none'",
        ),
        (
            write_graph(
                tmp_path / "steps.nir",
                chain_nodes(w_in, w_out),
                CHAIN_EDGES,
                {"reset_mechanism": "subtract"},
            ),
            "no time_steps and none was given",
        ),
    ]


def not_nir_files(tmp_path):
    text = tmp_path / "notes.nir"
    text.write_text("not a graph\n")
    with h5py.File(tmp_path / "random.h5", "w") as f:
        f.create_dataset("x", data=np.arange(5))
    return [
        (text, "not a NIR graph file"),
        (tmp_path / "random.h5", "not a NIR graph file"),
        (tmp_path / "absent.nir", "no such file"),
    ]


def test_graphs_limprob_cannot_represent_are_refused(tmp_path, weights):
    for path, words in bad_graphs(tmp_path, *weights) + not_nir_files(tmp_path):
        with pytest.raises(LimprobError, match=words) as raised:
            from_nir(path)
        assert len(str(raised.value).splitlines()) == 1
        assert str(raised.value).startswith(str(path))


def test_a_zero_bias_affine_is_read_as_linear(tmp_path, weights):
    nodes = chain_nodes(*weights)
    nodes["W_out"] = nir.Affine(weight=weights[1].T, bias=np.zeros(2))
    loaded = from_nir(write_graph(tmp_path / "affine.nir", nodes, CHAIN_EDGES))
    np.testing.assert_array_equal(loaded.w_out, weights[1])


def test_cli_refuses_bad_networks_and_traces(tmp_path, weights, capsys):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for path, words in bad_graphs(inputs, *weights)[:3] + not_nir_files(inputs):
        assert_refused(["evaluate", "--network", str(path)], capsys, words, tmp_path)
    probes = tmp_path / "probes.nc"
    assert (
        main(["probe", "--hidden", "2", "--probes", "2", "--obs", "4", "--out", str(probes)]) == 0
    )
    capsys.readouterr()
    twin = tmp_path / "twin.nc"  # what limprob twin writes, as far as export looks
    tree = xr.DataTree.from_dict(
        {"posterior": xr.Dataset({"log_gain": (("chain", "draw"), np.zeros((1, 3)))})}
    )
    tree.attrs.update(limprob_trace=1, model="chip_twin", method="mh")
    save_trace(tree, twin)
    out = tmp_path / "net.nir"
    for trace, words in [
        (probes, "not a limprob trace"),
        (twin, "a chip_twin trace, not a"),
        (inputs / "notes.nir", "not a NetCDF"),
        (tmp_path / "absent.nc", "no such file"),
    ]:
        assert_refused(["export", str(trace), "--nir", str(out)], capsys, words, tmp_path)
    assert_refused(
        ["export", str(probes), "--nir", str(tmp_path / "no" / "net.nir")],
        capsys,
        "does not exist",
        tmp_path,
    )


# --- the reset: NIR's own reset to zero, and graphs from other tools ---------------------------


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_round_trip_keeps_the_reset_and_the_counts(tmp_path, weights, data, reset):
    network = Network(5, 20, 0.83, 0.7, reset)
    graph_file = write_nir(to_nir(*weights, network), tmp_path / "net.nir")
    graph = nir.read(graph_file)
    assert graph.metadata["reset_mechanism"] == reset
    np.testing.assert_array_equal(graph.nodes["hidden"].v_reset, 0.0)
    loaded = from_nir(graph_file)
    assert loaded.network == network
    x = data.test["features"].values
    chip = SimulatedChip(30, 2, loaded.network, strength=0.0)
    counts = chip.run(loaded.w_in, loaded.w_out, x)
    reference = lif_counts_numpy(
        x,
        *weights,
        *(np.full(5, v) for v in (0.83, 0.7)),
        *(np.full(2, v) for v in (0.83, 0.7)),
        20,
        reset == "zero",
    )
    np.testing.assert_array_equal(counts, reference)
    other = lif_counts_numpy(
        x,
        *weights,
        *(np.full(5, v) for v in (0.83, 0.7)),
        *(np.full(2, v) for v in (0.83, 0.7)),
        20,
        reset != "zero",
    )
    assert not np.array_equal(counts, other)  # the two resets are different networks here


def foreign_graph(path, w_in, w_out, beta=0.83, theta=0.7, metadata=None):
    """A graph as another tool writes it (snnTorch's export: Affine layers with a bias, the
    output layer a CubaLIF with an instantaneous synapse, no limprob metadata)."""
    dt = 1e-4
    tau = dt / (1 - beta)
    h, o = w_in.shape[1], w_out.shape[1]
    nodes = {
        "input": nir.Input(input_type={"input": np.array([w_in.shape[0]])}),
        "fc1": nir.Affine(weight=w_in.T.astype(np.float32), bias=np.zeros(h, np.float32)),
        "lif1": nir.LIF(
            tau=np.full(h, tau),
            r=np.full(h, tau / dt),
            v_leak=np.zeros(h),
            v_threshold=np.full(h, theta),
            v_reset=np.zeros(h),
        ),
        "fc2": nir.Linear(weight=w_out.T.astype(np.float32)),
        "lif2": nir.CubaLIF(
            tau_syn=np.full(o, dt),
            tau_mem=np.full(o, tau),
            r=np.full(o, tau / dt),
            v_leak=np.zeros(o),
            v_threshold=np.full(o, theta),
            v_reset=np.zeros(o),
            w_in=np.ones(o),
        ),
        "output": nir.Output(output_type={"output": np.array([o])}),
    }
    edges = [
        ("input", "fc1"),
        ("fc1", "lif1"),
        ("lif1", "fc2"),
        ("fc2", "lif2"),
        ("lif2", "output"),
    ]
    return write_graph(path, nodes, edges, metadata or {})


def test_a_foreign_graph_is_read_with_the_given_steps_and_reset(tmp_path, weights, data):
    path = foreign_graph(tmp_path / "foreign.nir", *weights)
    with pytest.raises(LimprobError, match="no time_steps and none was given"):
        from_nir(path)
    with pytest.raises(LimprobError, match="no reset_mechanism and none was given"):
        from_nir(path, time_steps=20)
    loaded = from_nir(path, time_steps=20, reset="zero")
    assert loaded.network == Network(5, 20, loaded.network.beta, 0.7, "zero")
    assert loaded.network.beta == pytest.approx(0.83, abs=1e-12)
    x = data.test["features"].values
    w_in, w_out = (w.astype(np.float32).astype(np.float64) for w in weights)  # as written
    counts = SimulatedChip(30, 2, loaded.network, 0.0).run(loaded.w_in, loaded.w_out, x)
    beta = loaded.network.beta
    np.testing.assert_array_equal(
        counts,
        lif_counts_numpy(
            x,
            w_in,
            w_out,
            np.full(5, beta),
            np.full(5, 0.7),
            np.full(2, beta),
            np.full(2, 0.7),
            20,
            True,
        ),
    )
    slow_synapse = tmp_path / "slow.nir"
    graph = nir.read(path)
    graph.nodes["lif2"].tau_syn = graph.nodes["lif2"].tau_syn * 5
    nir.write(slow_synapse, graph)
    with pytest.raises(LimprobError, match="synaptic current that outlasts a step"):
        from_nir(slow_synapse, time_steps=20, reset="zero")
    reset_to = tmp_path / "reset_to.nir"
    graph = nir.read(path)
    graph.nodes["lif1"].v_reset = np.full(5, -0.2)
    nir.write(reset_to, graph)
    with pytest.raises(LimprobError, match="reset to v_reset -0.2"):
        from_nir(reset_to, time_steps=20, reset="zero")


def test_evaluate_takes_a_foreign_graph_only_with_steps_and_reset(tmp_path, weights, capsys):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    path = foreign_graph(inputs / "foreign.nir", *weights)
    assert_refused(["evaluate", "--network", str(path)], capsys, "no time_steps", tmp_path)
    assert_refused(
        ["evaluate", "--network", str(path), "--steps", "20"],
        capsys,
        "no reset_mechanism",
        tmp_path,
    )
    code, stdout, _ = run_cli(
        ["evaluate", "--network", str(path), "--steps", "20", "--reset", "zero", "--json"], capsys
    )
    report = json.loads(stdout)
    assert code == 0 and report["reset"] == "zero" and report["time_steps"] == 20
    # the same graph with limprob's metadata: the flags may repeat it, not contradict it
    own = write_nir(to_nir(*weights, Network(5, 20, 0.83, 0.7, "zero")), inputs / "own.nir")
    for flags, words in [
        (["--steps", "16"], "time_steps 20, which contradicts the 16 given"),
        (["--reset", "subtract"], "reset_mechanism 'zero', which contradicts"),
    ]:
        assert_refused(["evaluate", "--network", str(own), *flags], capsys, words, tmp_path)
    code, stdout, _ = run_cli(
        ["evaluate", "--network", str(own), "--steps", "20", "--reset", "zero", "--json"], capsys
    )
    assert code == 0 and json.loads(stdout) == report
    assert_refused(
        ["evaluate", str(inputs / "own.nir"), "--steps", "20"],
        capsys,
        "go with --network",
        tmp_path,
    )


def test_training_with_reset_zero_exports_what_it_trained(tmp_path, capsys):
    trace = tmp_path / "zero.nc"
    network = replace(SMALL_TRACE.network, n_steps=12)
    code, _, _ = run_cli(
        [
            "train",
            "--reset",
            "zero",
            "--strength",
            "0",
            "--hidden",
            str(network.n_hidden),
            "--time-steps",
            str(network.n_steps),
            "--draws",
            "10",
            "--tune",
            "10",
            "--chains",
            "1",
            "--predictive-draws",
            "4",
            "--train-fraction",
            "0.3",
            "--no-progress",
            "--out",
            str(trace),
        ],
        capsys,
    )
    assert code == 0
    tree = load_trace(trace)
    assert tree.attrs["network_reset"] == "zero" and "reset" not in tree.attrs
    out = tmp_path / "zero.nir"
    code, stdout, _ = run_cli(
        ["export", str(trace), "--nir", str(out), "--weights", "best"], capsys
    )
    assert code == 0 and "reset zero" in stdout
    loaded = from_nir(out)
    assert loaded.network.reset == "zero"
    test = split(load_table(), seed=int(loaded.metadata["data_seed"])).test
    counts = SimulatedChip(30, 2, loaded.network, 0.0).run(
        loaded.w_in, loaded.w_out, test["features"].values
    )
    stored = tree["point_estimates"]["probability"].sel(point_estimate="best").values
    np.testing.assert_array_equal(
        class_probabilities(counts, loaded.metadata["kappa"], loaded.network.n_steps), stored
    )
    subtract = SimulatedChip(30, 2, replace(network, reset="subtract"), 0.0)
    assert not np.array_equal(
        subtract.run(loaded.w_in, loaded.w_out, test["features"].values), counts
    )  # read with the other reset, the network differs
