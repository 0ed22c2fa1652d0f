"""The conformance kit accepts every chip limprob ships and names the fault of broken ones."""

import numpy as np
import pytest

import user_chips
from limprob.chip import Distortion, ParametricChip, SimulatedChip
from limprob.chip.protocol import Chip, CompiledChip, require_chip
from limprob.chip.testing import ChipConformanceError, check_chip
from limprob.errors import LimprobError
from limprob.snn import Network

NET = Network(4, 8)

SHIPPED = {
    "simulated": lambda: SimulatedChip(5, 3, NET, strength=1.0, seed=1),
    "noisy and quantised": lambda: SimulatedChip(
        5, 3, NET, strength=1.0, seed=1, noise=0.3, weight_bits=4
    ),
    "ideal": lambda: SimulatedChip(5, 3, NET, strength=1.0, seed=1).ideal(),
    "parametric": lambda: ParametricChip(Distortion(0.5, 0.1, 0.1), 5, 3, NET),
}


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_chip_conforms(name):
    chip = SHIPPED[name]()
    assert isinstance(chip, Chip)
    check_chip(chip)


def test_the_simulated_chips_are_compiled_chips():
    assert isinstance(SHIPPED["simulated"](), CompiledChip)
    assert not isinstance(SHIPPED["parametric"](), CompiledChip)


def test_a_parametric_chip_with_read_noise_replays_its_noise():
    chip = ParametricChip(Distortion(), 5, 3, NET, read_noise=0.5, seed=4)
    w_in, w_out, x = np.ones((5, 4)), np.ones((4, 3)), np.full((6, 5), 0.5)
    first, second = chip.run(w_in, w_out, x), chip.run(w_in, w_out, x)
    chip.continue_from(0)
    np.testing.assert_array_equal(chip.run(w_in, w_out, x), first)
    assert not np.array_equal(first, second) and chip.noise == 0.5


@pytest.mark.parametrize("broken", user_chips.BROKEN, ids=lambda c: c.__name__)
def test_a_broken_chip_is_rejected_naming_its_fault(broken):
    with pytest.raises(ChipConformanceError, match=broken.__name__) as raised:
        check_chip(broken())
    assert user_chips.BROKEN[broken] in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_conformance_failure_is_an_assertion_and_a_limprob_error():
    assert issubclass(ChipConformanceError, AssertionError)
    assert issubclass(ChipConformanceError, LimprobError)


def test_require_chip_names_every_missing_member():
    with pytest.raises(
        LimprobError,
        match=r"^the user's chip \(NoDescribe\) is not a limprob "
        r"chip: it has no describe \(",
    ):
        require_chip(user_chips.NoDescribe(), "the user's chip")
    with pytest.raises(
        LimprobError, match="it has no network, n_inputs, n_outputs, queries, run, describe, noise"
    ):
        require_chip(object())
    chip = SHIPPED["parametric"]()
    assert require_chip(chip) is chip


def test_inputs_given_to_the_kit_must_fit_the_chip():
    with pytest.raises(LimprobError, match=r"shape \(obs, 5\)"):
        check_chip(SHIPPED["parametric"](), np.zeros((3, 4)))
