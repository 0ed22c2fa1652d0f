"""Starting points: the chip chooses among the candidates, spends exactly the queries it
reports, refuses what does not fit, and the same seed gives the same trace."""

from dataclasses import replace

import numpy as np
import pytest
import xarray as xr

from limprob.chip import SimulatedChip
from limprob.errors import LimprobError
from limprob.inference import EvaluationSettings, MCMCSettings, TrainConfig
from limprob.inference.backprop import BackpropConfig, IdealModelBackprop
from limprob.inference.sampling import prior_draws
from limprob.inference.starts import PRIOR_CANDIDATES, Candidate, choose_starts, rank_starts
from limprob.inference.training import train
from limprob.io import save_trace
from limprob.models.chip_in_the_loop import build_model
from limprob.snn import Network

NETWORK = Network(n_hidden=4)
START_RUN = TrainConfig(
    network=NETWORK,
    mcmc=MCMCSettings(draws=5, tune=5, chains=2, sampler="blocked", init="ideal"),
    evaluation=EvaluationSettings(predictive_draws=4, train_fraction=0.2),
)
"""A run from ideal-model starts."""


@pytest.fixture(scope="module")
def trained(data):
    """A 30-4-2 backprop trace on the ideal chip, and the same with its outputs swapped
    (confidently wrong: a deliberately bad start)."""
    tree = IdealModelBackprop(BackpropConfig(epochs=20, seed=0)).train(
        SimulatedChip(30, 2, NETWORK, strength=0.0, seed=0), data
    )
    bad = tree.copy()
    bad["weights"] = (
        tree["weights"]
        .to_dataset()
        .assign(W_out=tree["weights"]["W_out"].copy(data=tree["weights"]["W_out"].values[:, ::-1]))
    )
    return tree, bad


def starts(chip, data, init, chains, **settings):
    model = build_model(chip, data.train)
    before = chip.queries
    initvals, attrs = choose_starts(
        chip,
        data,
        model,
        init=init,
        chains=chains,
        seed=0,
        kappa=8.0,
        init_seeds=None,
        prior_draws=prior_draws,
        **settings,
    )
    return initvals, attrs, chip.queries - before


def test_the_chip_refuses_a_bad_start_and_counts_its_queries(data, trained, tmp_path):
    good, bad = trained
    for tree, name in ((good, "good.nc"), (bad, "bad.nc")):
        save_trace(tree, tmp_path / name)
    assert good.attrs["test_accuracy"] >= 0.85  # a start worth choosing
    for name, chosen in (("good.nc", "file"), ("bad.nc", None)):
        chip = SimulatedChip(30, 2, NETWORK, strength=0.0, seed=0)
        initvals, attrs, spent = starts(chip, data, str(tmp_path / name), chains=1)
        assert spent == attrs["start_selection_chip_queries"] == 1 + PRIOR_CANDIDATES
        scores = attrs["start_candidate_log_posteriors"]
        assert attrs["start_per_chain"] == (chosen or f"prior{int(np.argmax(scores[1:]))}")
        assert attrs["start_log_posterior_per_chain"][0] == scores.max()
        if chosen:
            np.testing.assert_array_equal(initvals[0]["W_out"], good["weights"]["W_out"].values)


def test_a_start_far_in_the_prior_tails_loses_to_a_prior_draw(data, trained, tmp_path):
    """The chip ranks by the log posterior: hidden neuron 0 silenced (no input weight), its
    readout weights are irrelevant to the likelihood; set to 1,000 they leave the candidate's
    log-likelihood as it was, above every prior draw's, but put it deep in the prior's tails,
    and a prior draw is chosen instead. The file itself is chosen again with those weights
    at 0, and so is the same candidate for the same seed, bit for bit."""
    tree = trained[0]
    w_in, w_out = (tree["weights"][name].values.copy() for name in ("W_in", "W_out"))
    w_in[:, 0] = 0.0
    w_out[0] = 0.0
    chosen = {}
    for name, readout in (("near.nc", 0.0), ("far.nc", 1e3)):
        far = w_out.copy()
        far[0] = readout
        weights = (
            tree["weights"]
            .to_dataset()
            .assign(
                W_in=tree["weights"]["W_in"].copy(data=w_in),
                W_out=tree["weights"]["W_out"].copy(data=far),
            )
        )
        candidate = tree.copy()
        candidate["weights"] = weights
        save_trace(candidate, tmp_path / name)
        runs = [
            starts(
                SimulatedChip(30, 2, NETWORK, strength=0.0, seed=0),
                data,
                str(tmp_path / name),
                chains=1,
            )
            for _ in range(2)
        ]
        (initvals, attrs, _), (again, attrs_again, _) = runs
        np.testing.assert_array_equal(initvals[0]["W_out"], again[0]["W_out"])
        np.testing.assert_array_equal(
            attrs["start_candidate_log_posteriors"], attrs_again["start_candidate_log_posteriors"]
        )
        likelihoods = attrs["start_candidate_log_likelihoods"]
        assert likelihoods[0] > likelihoods[1:].max()  # the file fits best
        chosen[name] = (attrs["start_per_chain"], likelihoods[0])
    assert chosen["near.nc"][0] == "file"
    assert chosen["far.nc"][0].startswith("prior")
    assert chosen["far.nc"][1] == chosen["near.nc"][1]  # the same likelihood


def test_rank_starts_puts_the_best_fit_first_among_candidates_that_beat_the_prior():
    """The numbers of a strength-2 digits chip: the twin's two fits and the ideal model's
    candidate all beat the prior draws by log posterior; the twin's second fit fits best
    (-886) and goes first though the ideal model's smaller weights give it the higher log
    posterior. A model candidate that loses to a prior draw goes among the draws."""
    likelihoods = np.array([-1472.7, -885.8, -2453.1, -9000.0, -5122.8, -5064.3, -4894.6])
    posteriors = np.array([-4184.3, -4089.5, -3885.4, -9e4, -6756.1, -6724.1, -6547.1])
    beats = np.array([True, True, True, False, False, False, False])
    assert rank_starts(likelihoods, posteriors, beats) == [1, 0, 2, 6, 5, 4, 3]
    assert rank_starts(likelihoods[3:], posteriors[3:], beats[3:]) == [3, 2, 1, 0]


def test_the_better_fit_wins_over_the_higher_log_posterior(data, trained, monkeypatch):
    """Two model candidates on the chip: ``smaller`` (the trained weights with hidden neuron 0
    silenced) and ``fit`` (the same with the readout scaled by 0.8, which fits a little better,
    and the silenced neuron's readout weights at 8, which cost the log prior 64 nats and the
    likelihood nothing). Both beat every prior draw; ``fit`` has the higher log-likelihood
    and the lower log posterior, and the first chain starts there, the second at
    ``smaller``."""
    w_in, w_out = (trained[0]["weights"][name].values.copy() for name in ("W_in", "W_out"))
    w_in[:, 0] = 0.0
    w_out[0] = 0.0
    fit_out = 0.8 * w_out
    fit_out[0] = 8.0
    made = [Candidate("smaller", w_in, w_out), Candidate("fit", w_in, fit_out)]
    monkeypatch.setattr("limprob.inference.starts.model_candidates", lambda *args: (list(made), {}))
    chip = SimulatedChip(30, 2, NETWORK, strength=0.0, seed=0)
    initvals, attrs, spent = starts(chip, data, "ideal", chains=2)
    assert spent == attrs["start_selection_chip_queries"] == 2 + PRIOR_CANDIDATES
    likelihoods = attrs["start_candidate_log_likelihoods"]
    posteriors = attrs["start_candidate_log_posteriors"]
    assert likelihoods[1] > likelihoods[0] and posteriors[1] < posteriors[0]
    assert min(posteriors[:2]) > max(posteriors[2:])
    np.testing.assert_array_equal(attrs["start_candidate_beats_prior"], [1, 1, 0, 0, 0, 0])
    assert attrs["start_per_chain"] == "fit, smaller"
    np.testing.assert_array_equal(initvals[0]["W_out"], fit_out)


def test_chains_start_at_the_best_candidates_in_turn(data, trained, tmp_path):
    save_trace(trained[0], tmp_path / "good.nc")
    chip = SimulatedChip(30, 2, NETWORK, strength=0.0, seed=0)
    initvals, attrs, spent = starts(chip, data, str(tmp_path / "good.nc"), chains=3)
    scores = attrs["start_candidate_log_posteriors"]
    assert spent == scores.size == 1 + PRIOR_CANDIDATES
    np.testing.assert_array_equal(attrs["start_log_posterior_per_chain"], np.sort(scores)[::-1][:3])
    assert len({v["W_in"].tobytes() for v in initvals}) == 3


def test_prior_start_is_the_prior_draw_and_costs_nothing(data):
    chip = SimulatedChip(30, 2, NETWORK, strength=0.0, seed=0)
    model = build_model(chip, data.train)
    initvals, attrs, spent = starts(chip, data, "prior", chains=2)
    assert spent == 0 == attrs["start_selection_chip_queries"]
    for got, want in zip(initvals, prior_draws(model, 2, 0)):
        np.testing.assert_array_equal(got["W_in"], want["W_in"])


def test_ideal_start_same_seed_same_trace_and_its_flops_are_counted(wisconsin):
    from limprob.energy.training_run import digital_training_flops, training_energy

    config = START_RUN
    first, second = (train(config, wisconsin, progressbar=False) for _ in range(2))
    for group in ("posterior", "log_likelihood", "predictions"):
        xr.testing.assert_equal(first[group].to_dataset(), second[group].to_dataset())
    attrs = first.attrs
    assert attrs["start_per_chain"] == second.attrs["start_per_chain"]
    assert attrs["start_selection_chip_queries"] == 2 + PRIOR_CANDIDATES
    assert digital_training_flops(first) == attrs["start_digital_training_flops"] > 0
    assert (
        training_energy(first).attrs["digital_training_flops"]
        == attrs["start_digital_training_flops"]
    )
    np.testing.assert_array_equal(attrs["init_seeds_used"], second.attrs["init_seeds_used"])
    other = train(
        replace(START_RUN, mcmc=replace(START_RUN.mcmc, init_seeds=(5, 6))),
        wisconsin,
        progressbar=False,
    )
    assert list(other.attrs["init_seeds_used"]) == [5, 6]
    assert other.attrs["start_candidates"] != attrs["start_candidates"]


@pytest.mark.parametrize("init_seeds, message", [((1,), "one seed per chain"), ((1, -2), "seed")])
def test_bad_init_seeds_are_refused(init_seeds, message):
    with pytest.raises(LimprobError, match=message):
        MCMCSettings(init="ideal", init_seeds=init_seeds, chains=2)


def test_init_refusals_on_the_command_line(tmp_path, capsys, trained):
    from test_cli import assert_refused

    save_trace(trained[0], tmp_path / "h4.nc")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    base = [
        "train",
        "--out",
        str(out_dir / "run.nc"),
        "--draws",
        "5",
        "--tune",
        "5",
        "--train-fraction",
        "0.2",
        "--no-progress",
    ]
    assert_refused(
        [*base, "--hidden", "8", "--init", str(tmp_path / "h4.nc")],
        capsys,
        "weights of a 30-4-2 network; this run trains 30-8-2",
        out_dir,
    )
    assert_refused([*base, "--init", "warm"], capsys, "--init warm: not prior, ideal", out_dir)
    assert_refused([*base, "--init", "twin:"], capsys, "init must be", out_dir)
    assert_refused(
        [*base, "--reset", "zero", "--init", "twin"],
        capsys,
        "the 'twin' start trains by backprop, which needs a network that resets by subtraction",
        out_dir,
    )


def hand_written_twin(path, inverse_w_sat: float, log_gain: float) -> str:
    """``twin:PATH`` of a twin trace written by hand: a saturation and a gain, no mismatch,
    17 probe queries."""
    posterior = xr.Dataset(
        {
            "inverse_w_sat": (("chain", "draw"), np.full((1, 4), inverse_w_sat)),
            "log_gain": (("chain", "draw"), np.full((1, 4), log_gain)),
        }
    )
    tree = xr.DataTree.from_dict({"posterior": posterior})
    tree.attrs.update(
        {
            "limprob_trace": 1,
            "model": "chip_twin",
            "network_n_hidden": 4,
            "network_n_steps": 32,
            "training_chip_queries": 17,
        }
    )
    save_trace(tree, path)
    return f"twin:{path}"


def test_twin_start_trains_through_the_twins_distortion(data, tmp_path):
    """A twin trace makes one candidate per chain by backprop through its posterior-mean
    distortion, beside one ideal-model candidate per chain; its probe queries are reported."""
    chip = SimulatedChip(30, 2, NETWORK, strength=1.0, seed=0)
    init = hand_written_twin(tmp_path / "twin.nc", 1.5, -0.2)
    _, attrs, spent = starts(chip, data, init, chains=2)
    assert spent == attrs["start_selection_chip_queries"] == 2 + 2 + PRIOR_CANDIDATES
    assert attrs["start_twin_probe_chip_queries"] == 17
    assert attrs["start_digital_training_flops"] > 0
    seeds = attrs["init_seeds_used"]
    assert attrs["start_candidates"].split(", ")[:4] == [
        *(f"twin_seed{s}" for s in seeds),
        *(f"ideal_seed{s}" for s in seeds),
    ]


def test_a_wrong_twin_leaves_an_undistorted_chip_the_ideal_models_start(data, tmp_path):
    """On a chip the ideal model describes, backprop through a twin that is wrong (strong
    saturation, half the gain) makes starts that fit the chip worse than the ideal model's, and
    every chain starts from an ideal-model candidate."""
    chip = SimulatedChip(30, 2, NETWORK, strength=0.0, seed=0)
    init = hand_written_twin(tmp_path / "twin.nc", 4.0, np.log(0.5))
    _, attrs, _ = starts(chip, data, init, chains=2)
    labels = attrs["start_candidates"].split(", ")
    fits = dict(zip(labels, attrs["start_candidate_log_likelihoods"]))
    assert max(fits[label] for label in labels if label.startswith("twin")) < min(
        fits[label] for label in labels if label.startswith("ideal")
    )
    assert all(label.startswith("ideal_seed") for label in attrs["start_per_chain"].split(", "))


@pytest.mark.parametrize(
    "flags, init",
    [
        ([], "prior"),
        (["--dataset", "wisconsin"], "prior"),
        (["--dataset", "wine"], "twin"),
        (["--dataset", "digits"], "twin"),
        (["--dataset", "yinyang"], "twin"),
        (["--dataset", "digits", "--init", "prior"], "prior"),
        (["--dataset", "digits", "--reset", "zero"], "prior"),
        (["--dataset", "digits", "--reset", "zero", "--init", "ideal"], "ideal"),
        (["--data", "table.csv"], "prior"),
        (["--data", "table.csv", "--init", "ideal"], "ideal"),
    ],
)
def test_each_data_set_has_its_default_start_and_init_wins(flags, init):
    """``limprob train --dataset NAME`` starts where ``DATASET_INITS`` says; an explicit
    ``--init`` always wins, and a user's ``--data`` table and a network that resets to zero
    start from the prior."""
    from limprob.cli import build_parser
    from limprob.cli.train import _init
    from limprob.models.defaults import DATASET_INITS

    args = build_parser().parse_args(["train", "--out", "run.nc", *flags])
    assert _init(args) == init
    if flags[:1] == ["--dataset"] and "--init" not in flags and "--reset" not in flags:
        assert init == DATASET_INITS[flags[1]]
