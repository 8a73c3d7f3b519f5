"""SCN network and objectives: shapes, the weighted logits, L_RR and the loss by hand."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cdr.errors import ParameterError
from cdr.scn.losses import importance_groups, rank_regularisation, scn_loss
from cdr.scn.model import SCN, build_scn


def test_forward_shapes_range_and_no_nan():
    torch.manual_seed(0)
    model = build_scn(7).eval()
    x = torch.randn(3, 3, 32, 32)
    logits, alpha = model(x)
    assert logits.shape == (3, 7) and alpha.shape == (3,)
    assert torch.isfinite(logits).all() and torch.isfinite(alpha).all()
    assert ((alpha > 0) & (alpha < 1)).all()
    feats = model.forward_features(x)
    assert feats.shape == (3, 512)
    # logits are alpha * (W x): dividing by alpha recovers the plain classifier output
    torch.testing.assert_close(logits / alpha[:, None], model.fc(feats))


def test_resnet18_parameter_count():
    # torchvision's resnet18 has 11,176,512 parameters without its 1000-way fc
    model = build_scn(7)
    backbone = sum(p.numel() for p in model.backbone.parameters())
    assert backbone == 11_176_512
    assert sum(p.numel() for p in model.alpha.parameters()) == 513


def test_no_attention_is_plain_classifier():
    torch.manual_seed(0)
    model = build_scn(5, attention=False).eval()
    assert model.alpha is None and not any(k.startswith("alpha") for k in model.state_dict())
    x = torch.randn(2, 3, 40, 40)
    logits, alpha = model(x)
    torch.testing.assert_close(alpha, torch.ones(2))
    torch.testing.assert_close(logits, model.fc(model.forward_features(x)))


def test_dropout_is_a_module_switched_off_in_eval():
    torch.manual_seed(0)
    model = SCN(4, drop_rate=0.5).eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x)[0], model(x)[0])  # reference code's Dropout stayed on in eval
    model.train()
    feats = torch.ones(64, 512)
    assert (model.dropout(feats) == 0).float().mean() > 0.3


ALPHA = [0.52, 0.49, 0.60, 0.55, 0.51, 0.58, 0.50, 0.53, 0.57, 0.54]


def test_rank_regularisation_hand_value():
    a = torch.tensor(ALPHA)
    # beta 0.7 of 10 -> high = 7 largest: .60 .58 .57 .55 .54 .53 .52 (mean 3.89/7); low: .51 .50 .49 (mean .50)
    expected = 0.15 - (3.89 / 7 - 0.50)
    assert float(rank_regularisation(a, beta=0.7, margin=0.15)) == pytest.approx(expected, abs=1e-6)
    assert float(rank_regularisation(a, beta=0.7, margin=0.05)) == 0.0  # gap 0.0557 > 0.05
    high, low = importance_groups(a, beta=0.7)
    assert sorted(low.tolist()) == [1, 4, 6]


def test_rank_regularisation_gradient_pushes_groups_apart():
    a = torch.tensor(ALPHA, requires_grad=True)
    rank_regularisation(a, margin=0.15).backward()
    low = {1, 4, 6}
    for i, g in enumerate(a.grad.tolist()):
        assert (g > 0) if i in low else (g < 0)  # descent lowers low-group alphas, raises high ones


def test_rank_regularisation_batch_of_one_is_zero_and_bad_beta_refused():
    assert float(rank_regularisation(torch.tensor([0.3]))) == 0.0
    with pytest.raises(ParameterError, match="beta=1.2"):
        importance_groups(torch.tensor([0.1, 0.2]), beta=1.2)


def test_total_loss_by_hand():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0], [0.0, 1.0, 3.0], [1.0, -2.0, 0.0]])
    targets = torch.tensor([0, 2, 2, 1])
    alpha = torch.tensor([0.9, 0.8, 0.7, 0.65])
    lp = logits.numpy() - np.log(np.exp(logits.numpy()).sum(1, keepdims=True))
    wce = -np.mean(lp[np.arange(4), targets.numpy()])
    # beta 0.7 of 4 -> high = 2 largest (.9, .8), low (.7, .65): gap 0.175
    rr = max(0.0, 0.2 - 0.175)
    total, parts = scn_loss(logits, alpha, targets, gamma=0.5, beta=0.7, margin=0.2)
    assert float(total) == pytest.approx(0.5 * rr + 0.5 * wce, abs=1e-6)
    assert float(parts["rr"]) == pytest.approx(rr, abs=1e-6)
    plain, _ = scn_loss(logits, alpha, targets, rank=False)
    assert float(plain) == pytest.approx(float(F.cross_entropy(logits, targets)), abs=1e-6)
    assert math.isclose(float(plain), wce, abs_tol=1e-6)
