"""The two-layer network's [COND-PD] init: phase-diagram coordinates, the antisymmetric doubling,
and the input-weight RD probe."""

from __future__ import annotations

import math

import pytest
import torch

from anchorbench.config import hashed
from anchorbench.models.two_layer import TwoLayer, TwoLayerConfig
from anchorbench.scoring.dynamics import start_probes


@pytest.mark.parametrize("width", [100, 1000, 40000])
@pytest.mark.parametrize("gamma, gamma_prime, e", [(0.5, 0.0, 0.0), (1.75, 0.0, 0.0), (1.2, -0.4, 0.3)])
def test_coordinates_fix_the_two_ratios_at_every_width(width, gamma, gamma_prime, e):
    beta2, beta1, alpha = TwoLayerConfig(width=width, gamma=gamma, gamma_prime=gamma_prime, beta1_exponent=e).scales()
    assert math.log(beta1 * beta2 / alpha) / math.log(width) == pytest.approx(-gamma)
    assert math.log(beta1 / beta2) / math.log(width) == pytest.approx(-gamma_prime)
    assert beta1 == pytest.approx(width**-e)


def test_the_weights_are_drawn_at_the_coordinates_scales():
    torch.manual_seed(0)
    model = TwoLayer(2, 1, width=20000, gamma=1.5, gamma_prime=0.25, bias_init="input")
    beta2, beta1, alpha = model.config.scales()
    assert model.hidden.weight.std().item() == pytest.approx(beta2, rel=0.02)
    assert model.hidden.bias.std().item() == pytest.approx(beta2, rel=0.05)
    assert model.out.weight.std().item() == pytest.approx(beta1, rel=0.05)
    x = torch.randn(5, 2)
    h = torch.relu(x @ model.hidden.weight.T + model.hidden.bias)
    torch.testing.assert_close(model(x), h @ model.out.weight.T / alpha)


def test_antisymmetric_doubling_starts_at_zero_and_then_moves():
    torch.manual_seed(1)
    model = TwoLayer(2, 1, width=50, gamma=0.5, antisymmetric=True, bias_init="input")
    assert model.hidden.weight.shape == (100, 2)
    x = torch.randn(16, 2)
    h = torch.relu(model.hidden(x))[:, :50]
    one_copy = (h @ model.out.weight[:, :50].T / model.output_scale).abs().max().item()
    assert model(x).abs().max().item() <= 1e-5 * one_copy  # zero but for the float sum's rounding
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ((model(x) - 1.0) ** 2).mean().backward()
    opt.step()
    assert model(x).abs().max().item() > 1e-3 * one_copy
    assert model.input_weights().shape == (50, 3)  # the first copy, bias as a last column


def test_rd_input_measures_the_input_weights_only():
    torch.manual_seed(2)
    model = TwoLayer(2, 1, width=30, gamma=1.0, bias_init="input")
    probe = start_probes(["rd_input", "rd"], model, "squares", None)
    assert probe(model)["rd_input"] == 0.0
    with torch.no_grad():
        model.out.weight.mul_(3.0)  # the output layer alone: rd moves, rd_input does not
    first = probe(model)
    assert first["rd_input"] == 0.0 and first["rd"] > 0
    with torch.no_grad():
        model.hidden.weight.mul_(1.5)
        model.hidden.bias.mul_(1.5)
    assert probe(model)["rd_input"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gamma": 1.0, "input_std": 0.1}, "drop input_std"),
        ({"gamma": 1.0, "output_scale": 2.0}, "drop output_scale"),
        ({"gamma_prime": 0.3}, "set gamma too"),
        ({"bias_init": "input"}, "set input_std or gamma"),
    ],
)
def test_conflicting_scales_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TwoLayerConfig(**kwargs)


def test_the_new_fields_leave_earlier_configs_hashes_alone():
    assert set(hashed(TwoLayerConfig(width=64))) == {"width", "activation", "input_std", "output_std",
                                                     "output_scale", "bias"}  # fmt: skip
    assert hashed(TwoLayerConfig(width=64, gamma=1.0))["gamma"] == 1.0
