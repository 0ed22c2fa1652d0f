"""The network in the Neuromorphic Intermediate Representation (NIR): export and import.

limprob's network (:mod:`limprob.snn`) as a NIR graph

    Input (I,) -> Linear W_in^T (H, I) -> LIF (H,) -> Linear W_out^T (O, H) -> LIF (O,)
    -> Output (O,)

with NIR's continuous-time LIF ``tau dv/dt = (v_leak - v) + r I`` discretised as snnTorch's
``Leaky`` is (the mapping NIR documents for snnTorch): with step ``dt``,

    tau = dt / (1 - beta),   r = tau / dt,   v_leak = 0,   v_threshold = theta

so that one Euler step ``v += dt / tau (v_leak - v + r I)`` is ``v = beta v + I``. ``dt`` is
1e-4 s, snnTorch's export value (limprob's time is in steps; only ``dt / tau`` matters).

NIR's LIF resets to ``v_reset`` (0 here) after a spike. A network with ``reset = "zero"``
(:mod:`limprob.snn`) is exactly that reading, ``v[t] = beta (1 - s[t-1]) v[t-1] + I[t]``, the
one a consumer that follows NIR's definition applies (snnTorch's ``import_from_nir`` builds
``Leaky(reset_mechanism="zero")``). A network with ``reset = "subtract"`` resets by subtraction
one step later,
``v[t] = beta v[t-1] + I[t] - theta s[t-1]``, which the node parameters cannot say: only a
consumer that reads the metadata runs it as trained. The graph's metadata names the reset
(``reset_mechanism``) with ``time_steps`` T, the exact ``beta``, the input encoding (the
min-max scaled features as a constant current at each of the T steps) and the readout (output
spike counts ``c``; class probabilities ``softmax(kappa c / T)``, ``kappa``).

:func:`from_nir` reads such a graph back, or a graph from another tool (snnTorch's
``export_to_nir``) that has no such metadata when the caller gives ``time_steps`` and
``reset``; a CubaLIF whose synaptic current lasts one step (``tau_syn = dt``,
``w_in dt / tau_syn = 1``, snnTorch's ``Synaptic(alpha=0)``) is read as the LIF it equals. It
refuses, with one :class:`LimprobError` line, any graph limprob's network cannot represent and
any whose metadata contradicts the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from limprob.errors import LimprobError
from limprob.io import check_output_path, write_atomically
from limprob.snn import RESETS, Network

if TYPE_CHECKING:
    import nir

DT = 1e-4
"""Time step written to the graph (s): snnTorch's export value; only ``dt / tau`` matters."""
NEURON_UPDATES = {
    "subtract": "v[t] = beta v[t-1] + I[t] - v_threshold s[t-1]; s[t] = v[t] > v_threshold; "
    "v[0] = s[0] = 0",
    "zero": "v[t] = beta (1 - s[t-1]) v[t-1] + I[t]; s[t] = v[t] > v_threshold; v[0] = s[0] = 0",
}
"""The neuron's update for each reset (:data:`limprob.snn.RESETS`), as the metadata states it."""
NODES = ("input", "W_in", "hidden", "W_out", "output_neurons", "output")
"""Node names of an exported graph, in the order data flows."""
CHAIN = "Input -> Linear/Affine -> LIF/CubaLIF -> Linear/Affine -> LIF/CubaLIF -> Output"
"""The only graph shape limprob's network can represent."""


@dataclass(frozen=True)
class NirNetwork:
    """A network read from a NIR graph: the nominal :class:`~limprob.snn.Network` and its
    weights ``w_in`` (input, hidden) and ``w_out`` (hidden, output), with the graph's metadata
    (``kappa``, ``data_source``, ... where the writer gave them)."""

    network: Network
    w_in: np.ndarray
    w_out: np.ndarray
    metadata: dict = field(default_factory=dict)

    @property
    def n_inputs(self) -> int:
        """Input width, the number of features."""
        return self.w_in.shape[0]

    @property
    def n_outputs(self) -> int:
        """Output width, the number of classes."""
        return self.w_out.shape[1]


def lif_node(network: Network, size: int, dt: float = DT) -> nir.LIF:
    """NIR LIF of ``size`` neurons for the network's leak and threshold (module docstring)."""
    import nir

    tau = dt / (1.0 - network.beta)
    ones = np.ones(size)
    return nir.LIF(
        tau=tau * ones,
        r=(tau / dt) * ones,
        v_leak=0.0 * ones,
        v_threshold=network.theta * ones,
        v_reset=0.0 * ones,
    )


def to_nir(
    w_in: np.ndarray, w_out: np.ndarray, network: Network, metadata: dict | None = None
) -> nir.NIRGraph:
    """The NIR graph of weights ``w_in`` (input, hidden) and ``w_out`` (hidden, output) on
    ``network``; ``metadata`` (str, int or float values) is added to the graph's own."""
    import nir

    w_in, w_out = np.asarray(w_in, dtype=np.float64), np.asarray(w_out, dtype=np.float64)
    n_inputs, n_hidden = w_in.shape
    n_outputs = w_out.shape[1]
    if n_hidden != network.n_hidden or w_out.shape[0] != n_hidden:
        raise LimprobError(
            f"weights of shape {w_in.shape} and {w_out.shape} do not fit a "
            f"network of {network.n_hidden} hidden neurons"
        )
    nodes = dict(
        zip(
            NODES,
            (
                nir.Input(input_type={"input": np.array([n_inputs])}),
                nir.Linear(weight=np.ascontiguousarray(w_in.T)),
                lif_node(network, n_hidden),
                nir.Linear(weight=np.ascontiguousarray(w_out.T)),
                lif_node(network, n_outputs),
                nir.Output(output_type={"output": np.array([n_outputs])}),
            ),
        )
    )
    graph_metadata = {
        "producer": "limprob",
        "dt": DT,
        "time_steps": network.n_steps,
        "beta": network.beta,
        "reset_mechanism": network.reset,
        "neuron_update": NEURON_UPDATES[network.reset],
        "input_encoding": "the min-max scaled features x as a constant current at each of "
        "the time_steps steps",
        "readout": "spike count c of each output neuron over time_steps steps; class "
        "probabilities softmax(kappa c / time_steps)",
        **(metadata or {}),
    }
    return nir.NIRGraph(
        nodes=nodes, edges=list(zip(NODES[:-1], NODES[1:])), metadata=graph_metadata
    )


def write_nir(graph: nir.NIRGraph, path: str | Path) -> Path:
    """Write ``graph`` to ``path`` (NIR's HDF5 format), atomically."""
    import nir

    return write_atomically(check_output_path(path), lambda name: nir.write(name, graph))


def read_graph(path: str | Path) -> nir.NIRGraph:
    """The NIR graph stored at ``path``, or :class:`LimprobError` if there is none."""
    import nir

    path = Path(path)
    if not path.is_file():
        raise LimprobError(f"{path}: no such file")
    try:
        graph = nir.read(path, type_check=False)
    except Exception as error:  # h5py and nir raise many kinds for a file that is not NIR
        raise LimprobError(f"{path}: not a NIR graph file ({type(error).__name__})") from None
    if not isinstance(graph, nir.NIRGraph):
        raise LimprobError(f"{path}: holds a single {type(graph).__name__} node, not a graph")
    return graph


def from_nir(
    path: str | Path, time_steps: int | None = None, reset: str | None = None
) -> NirNetwork:
    """The network of the NIR graph at ``path``; :class:`LimprobError` naming what is wrong
    if limprob's network cannot represent it (see :func:`network_of_graph`, which also says
    what ``time_steps`` and ``reset`` do)."""
    try:
        return checked_network(read_graph(path), time_steps, reset)
    except LimprobError as error:
        message = str(error)
        raise LimprobError(
            message if message.startswith(str(path)) else f"{path}: {message}"
        ) from None


def checked_network(
    graph: nir.NIRGraph, time_steps: int | None = None, reset: str | None = None
) -> NirNetwork:
    """:func:`network_of_graph`, with every number limprob reads from the graph checked: node
    attributes that are not numbers (a string weight, a missing ``tau``) are one line, not a
    library's exception, and the metadata's readout gain ``kappa``, ``time_steps`` and
    ``data_seed`` must be a finite positive number, a count within
    :data:`limprob.validation.MAX_TIME_STEPS` and a seed."""
    from limprob.validation import positive_number, seed
    from limprob.validation import time_steps as check_time_steps

    try:
        with np.errstate(all="ignore"):
            loaded = network_of_graph(graph, time_steps, reset)
    except LimprobError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as error:
        raise LimprobError(
            f"the graph holds a value limprob cannot read as a number "
            f"({type(error).__name__}: {' '.join(str(error).split())[:100]})"
        ) from None
    metadata = dict(loaded.metadata)
    for name, check in (("kappa", positive_number), ("data_seed", seed)):
        if name in metadata:
            metadata[name] = check(f"the metadata's {name}", _number(metadata[name]))
    check_time_steps("the graph's time_steps", loaded.network.n_steps)
    return NirNetwork(loaded.network, loaded.w_in, loaded.w_out, metadata)


def _number(value: Any) -> Any:
    """A metadata value as an int or float when it is one number, else as it is (to be
    refused by the check that reads it)."""
    value = _plain(value)
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    return value


def network_of_graph(
    graph: nir.NIRGraph, time_steps: int | None = None, reset: str | None = None
) -> NirNetwork:
    """The network of a NIR graph of the shape :data:`CHAIN`.

    ``time_steps`` (T) and ``reset`` (one of :data:`~limprob.snn.RESETS`) are the run length
    and reset the graph is read with: each is taken from the graph's metadata
    (``time_steps``, ``reset_mechanism``) or given here, and where both say it they must agree
    (:func:`run_settings`).

    Refused: other node types (IF, convolutions, ...), a CubaLIF whose synaptic current lasts
    more than one step, anything but one feed-forward chain (recurrent edges, branches, nodes
    off the chain), non-zero biases or leak voltages, weights whose shapes do not chain, leaks
    (``tau``, ``r``) or thresholds that differ between neurons, ``r`` that is not
    ``tau / dt``, reset to zero with a non-zero ``v_reset``, and a run length or reset that
    neither the metadata nor the caller gives, or that they give differently.
    """
    chain = _chain(graph)
    types = [type(graph.nodes[name]).__name__ for name in chain]
    expected = [
        ("Input",),
        ("Linear", "Affine"),
        ("LIF", "CubaLIF"),
        ("Linear", "Affine"),
        ("LIF", "CubaLIF"),
        ("Output",),
    ]
    if len(types) != len(expected) or any(t not in e for t, e in zip(types, expected)):
        raise LimprobError(f"the graph is {' -> '.join(types)}; limprob's network is {CHAIN}")
    _, first, hidden, second, outputs, _ = (graph.nodes[name] for name in chain)
    w_in = _weights(chain[1], first).T
    w_out = _weights(chain[3], second).T
    n_inputs = int(np.prod(graph.nodes[chain[0]].input_type["input"]))
    if w_in.shape[0] != n_inputs or w_out.shape[0] != w_in.shape[1]:
        raise LimprobError(
            f"shapes do not chain: {n_inputs} inputs, {chain[1]} weight "
            f"{first.weight.shape}, {chain[3]} weight {second.weight.shape}"
        )
    for name, node, size in (
        (chain[2], hidden, w_in.shape[1]),
        (chain[4], outputs, w_out.shape[1]),
    ):
        neurons = np.size(_membrane_tau(node))
        if np.shape(_membrane_tau(node)) != (size,):
            raise LimprobError(
                f"LIF node {name!r} has {neurons} neurons where its weights give {size}"
            )
    n_outputs = int(np.prod(graph.nodes[chain[5]].output_type["output"]))
    if n_outputs != w_out.shape[1]:
        raise LimprobError(
            f"the output node has {n_outputs} values where the network has "
            f"{w_out.shape[1]} output neurons"
        )
    metadata = {k: _plain(v) for k, v in (graph.metadata or {}).items()}
    n_steps, reset = run_settings(metadata, time_steps, reset)
    lifs = {chain[2]: _lif_constants(chain[2], hidden), chain[4]: _lif_constants(chain[4], outputs)}
    beta, theta = _neuron_constants(metadata, lifs, reset)
    network = Network(w_in.shape[1], n_steps, beta, theta, reset)
    return NirNetwork(network, np.ascontiguousarray(w_in), np.ascontiguousarray(w_out), metadata)


def _chain(graph: nir.NIRGraph) -> list[str]:
    """The node names from the one Input to the one Output along the edges."""
    names: dict[str, list[str]] = {type(node).__name__: [] for node in graph.nodes.values()}
    for name, node in graph.nodes.items():
        names[type(node).__name__].append(name)
    for kind in ("Input", "Output"):
        if len(names.get(kind, [])) != 1:
            raise LimprobError(
                f"the graph has {len(names.get(kind, []))} {kind} nodes; limprob's network has one"
            )
    following: dict[str, list[str]] = {}
    preceding: dict[str, list[str]] = {}
    for source, target in graph.edges:
        for end in (source, target):
            if end not in graph.nodes:
                raise LimprobError(f"edge ({source!r}, {target!r}) names no node {end!r}")
        following.setdefault(source, []).append(target)
        preceding.setdefault(target, []).append(source)
    loop = _loop_edge(following)
    if loop:
        raise LimprobError(
            f"edge ({loop[0]!r}, {loop[1]!r}) closes a loop (a recurrent edge); "
            f"limprob's network is feed-forward, {CHAIN}"
        )
    for name, targets in following.items():
        if len(targets) > 1:
            raise LimprobError(
                f"node {name!r} feeds {', '.join(map(repr, targets))}; "
                f"limprob's network is one feed-forward chain, {CHAIN}"
            )
    for name, sources in preceding.items():
        if len(sources) > 1:
            raise LimprobError(
                f"node {name!r} has the inputs {', '.join(map(repr, sources))} "
                f"(a recurrent or skip edge); limprob's network is one "
                f"feed-forward chain, {CHAIN}"
            )
    chain = [names["Input"][0]]
    while chain[-1] in following:
        chain.append(following[chain[-1]][0])
    off = sorted(set(graph.nodes) - set(chain))
    if chain[-1] != names["Output"][0] or off:
        raise LimprobError(
            f"the nodes {', '.join(map(repr, off))} are not on the chain from "
            f"the input to the output"
        )
    return chain


def _loop_edge(following: dict) -> tuple[str, str] | None:
    """An edge that closes a directed cycle of the graph, if there is one (depth-first)."""
    state = {}

    def visit(node: str) -> tuple[str, str] | None:
        state[node] = "open"
        for target in following.get(node, ()):
            if state.get(target) == "open":
                return node, target
            if target not in state:
                found = visit(target)
                if found:
                    return found
        state[node] = "done"
        return None

    for node in list(following):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _weights(name: str, node: nir.NIRNode) -> np.ndarray:
    weight = np.asarray(node.weight, dtype=np.float64)
    if weight.ndim != 2:
        raise LimprobError(f"node {name!r} has a weight of shape {weight.shape}, not a matrix")
    if hasattr(node, "bias") and np.any(np.asarray(node.bias) != 0):
        raise LimprobError(
            f"node {name!r} has a non-zero bias, which limprob's network has no place for"
        )
    if not np.all(np.isfinite(weight)):
        raise LimprobError(f"node {name!r} has NaN or infinite weights")
    return weight


def run_settings(metadata: dict, time_steps: int | None, reset: str | None) -> tuple[int, str]:
    """The run length T and reset of a graph: from its ``metadata`` (``time_steps``,
    ``reset_mechanism``) or the caller's ``time_steps`` and ``reset``; :class:`LimprobError`
    when neither gives one, when they differ, or when the reset is not one of
    :data:`~limprob.snn.RESETS`."""
    settings = []
    for key, given, what in (
        ("time_steps", time_steps, "time steps (the run length T)"),
        ("reset_mechanism", reset, "reset mechanism"),
    ):
        written = metadata.get(key)
        if written is None and given is None:
            raise LimprobError(
                f"the graph's metadata gives no {key} and none was given: a "
                f"graph from another tool needs its {what} given (limprob "
                f"evaluate --time-steps T --reset subtract|zero)"
            )
        if written is not None and given is not None and written != given:
            raise LimprobError(
                f"the graph's metadata gives {key} {written!r}, which "
                f"contradicts the {given!r} given"
            )
        settings.append(given if written is None else written)
    n_steps, chosen = settings
    if chosen not in RESETS:
        raise LimprobError(
            f"the graph's metadata gives reset_mechanism {chosen!r}; limprob's "
            f"neurons reset by {' or '.join(map(repr, RESETS))}"
        )
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise LimprobError(f"time_steps {n_steps!r} is not a positive whole number of steps")
    return int(n_steps), chosen


def _membrane_tau(node: nir.NIRNode) -> np.ndarray:
    """The membrane time constant of a LIF (``tau``) or CubaLIF (``tau_mem``) node."""
    return node.tau_mem if hasattr(node, "tau_mem") else node.tau


def _lif_constants(name: str, node: nir.NIRNode) -> dict[str, np.ndarray]:
    """``tau``, ``r``, ``v_leak``, ``v_threshold`` and ``v_reset`` (float64, one per neuron)
    of a LIF node, or of a CubaLIF whose synaptic current lasts one step, which is that LIF:
    with ``dt = tau_mem / r``, Euler's ``i += dt / tau_syn (w_in I - i)`` is ``i = I`` exactly
    when ``tau_syn = dt`` and ``w_in dt / tau_syn = 1`` (snnTorch's ``Synaptic`` with
    ``alpha = 0``)."""
    tau = np.ravel(_membrane_tau(node)).astype(np.float64)
    constants = {"tau": tau}
    for key in ("r", "v_leak", "v_threshold", "v_reset"):
        value = getattr(node, key, None)
        constants[key] = (
            np.zeros_like(tau)
            if value is None
            else np.broadcast_to(np.ravel(value).astype(np.float64), tau.shape)
        )
    if hasattr(node, "tau_syn"):
        dt = tau / constants["r"]
        tau_syn = np.broadcast_to(np.ravel(node.tau_syn).astype(np.float64), tau.shape)
        w_in = np.broadcast_to(np.ravel(node.w_in).astype(np.float64), tau.shape)
        if not (
            np.allclose(tau_syn, dt, rtol=1e-6, atol=0)
            and np.allclose(w_in * dt / tau_syn, 1.0, rtol=1e-6, atol=0)
        ):
            raise LimprobError(
                f"CubaLIF node {name!r} has a synaptic current that outlasts a "
                f"step (tau_syn {tau_syn.min():g} .. {tau_syn.max():g}, dt = "
                f"tau_mem / r = {dt.min():g}); limprob's neurons take their input "
                f"current within the step, a CubaLIF with tau_syn = dt and "
                f"w_in = 1"
            )
    return constants


def _neuron_constants(metadata: dict, lifs: dict, reset: str) -> tuple[float, float]:
    """``beta`` and ``theta`` shared by every LIF neuron (``lifs``: the constants of
    :func:`_lif_constants` by node name), or :class:`LimprobError`."""
    values = {
        key: np.concatenate([constants[key] for constants in lifs.values()])
        for key in ("tau", "r", "v_leak", "v_threshold", "v_reset")
    }
    for key, text in (
        ("tau", "time constants tau"),
        ("r", "resistances r"),
        ("v_threshold", "thresholds"),
    ):
        if not np.all(np.isfinite(values[key])) or np.ptp(values[key]) != 0:
            raise LimprobError(
                f"the LIF neurons' {text} differ ({values[key].min():g} .. "
                f"{values[key].max():g}); limprob's network has one value for "
                "all neurons"
            )
    if np.any(values["v_leak"] != 0):
        raise LimprobError(
            "the LIF neurons have a non-zero leak voltage v_leak; limprob's neurons leak to 0"
        )
    tau, r, theta = values["tau"][0], values["r"][0], values["v_threshold"][0]
    if not (tau > 0 and r >= 1 and theta > 0):
        raise LimprobError(
            f"LIF constants tau {tau:g}, r {r:g}, threshold {theta:g} are not "
            f"those of a discrete leak 0 <= beta < 1 (tau > 0, r = tau/dt >= 1, "
            f"threshold > 0)"
        )
    dt = tau / r
    if "dt" in metadata and not np.isclose(float(metadata["dt"]), dt, rtol=1e-9, atol=0):
        raise LimprobError(
            f"r = {r:g} is not tau / dt = {tau / float(metadata['dt']):g}: "
            f"not snnTorch's discretisation of the LIF"
        )
    beta = 1.0 - dt / tau
    if "beta" in metadata:  # the exact value the writer used, where tau gives it up to rounding
        written = float(metadata["beta"])
        if not np.isclose(written, beta, rtol=0, atol=1e-9):
            raise LimprobError(
                f"the metadata's beta {written} disagrees with the LIF "
                f"constants' 1 - dt/tau = {beta}"
            )
        beta = written
    if reset == "zero" and np.any(values["v_reset"] != 0):
        raise LimprobError(
            f"the LIF neurons reset to v_reset {values['v_reset'].min():g} .. "
            f"{values['v_reset'].max():g}; limprob's neurons reset to 0"
        )
    return float(beta), float(theta)


def _plain(value: Any) -> Any:
    """A metadata value as a Python str, int or float (h5py gives bytes and numpy scalars)."""
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value
